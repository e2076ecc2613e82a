"""Perfect-foresight tank dispatch: the least CO2 a chilled-water tank can reach under a given
setpoint policy, with the whole season's weather and grid known in advance (simulated; an upper
bound on what a tank controller can save, not a controller).

Method (one weather/grid pair, one setpoint policy):

1. Roll the setpoint policy out without a tank and record every 15-minute step: mechanical
   cooling load ``cooling_w x (1 - free_cooling)`` (W thermal), chiller COP, HVAC electricity
   (W) and grid intensity (g/kWh). A tank changes only the chiller's electricity, never the
   building's temperatures, so this trace is the same with any tank dispatch as long as the
   demand-response layer leaves the setpoint alone (it moves it, around events, only toward
   the plant's least-import setpoint when the limit cannot be held: for the office the warm
   edge of 26 degC, where the office rules already sit; for the data hall about 24 degC inlet,
   so a warmer data-hall rule is moved in events, and there the replay departs from the LP).
2. Solve one linear program (HiGHS) for the tank's net rate ``u_h`` (W thermal, > 0 charge) per
   control hour, held over the hour's substeps as the env holds an action, minimising the
   season's CO2 ``sum ci_k (elec_k + u_k / cop_k) dt`` subject to the tank model of
   :mod:`apps.cooling.storage` (capacity, rate limit capacity / 4 h, 1 %/day standing loss,
   charge <= plant capacity - load, discharge <= mechanical load, starts empty) and to the
   env's demand-response layer, which every controller gets: before an event the tank charges
   at least the share that fills it by the event's start (linear in the state of charge), and
   in an event step the layer discharges what keeps the import under the limit (the LP decides
   only how much is stored by then; an unmet share costs
   :data:`apps.cooling.oracle_lp.DR_PENALTY_KG_PER_KWH`
   per kWh thermal, weighted so the LP discharges early as the layer does).
3. Replay the hourly commands through :class:`apps.cooling.env.CoolingEnv` with the tank, so
   the KPIs come from the simulator itself; ``lp_co2_kg`` and the replay's CO2 agree to
   rounding when the layer's greedy discharge matches the LP's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.cooling.env import DR_LIMIT_W_M2, SEASON_FIRST_DAY, SEASON_LAST_DAY, CoolingEnv
from apps.cooling.kpis import Kpis, rollout
from apps.cooling.scenario import ScenarioSpec
from apps.cooling.storage import TankParams


@dataclass(frozen=True)
class StepTrace:
    """Per 15-minute step of one rollout without a tank (arrays of equal length)."""

    mech_w_th: np.ndarray  # mechanical (non-economiser) cooling load
    cop: np.ndarray
    elec_w: np.ndarray  # HVAC electricity without the tank
    ci_g_per_kwh: np.ndarray
    dr_event: np.ndarray  # bool
    plant_capacity_w_th: float
    dr_limit_w: float
    dt_s: float
    substeps: int  # simulation steps per control step
    first_step: int  # scenario index of the first step


@dataclass(frozen=True)
class Dispatch:
    """The LP's tank plan and what it predicts (kg CO2 over the whole floor)."""

    rate_w_th: np.ndarray  # per control step: > 0 charge, < 0 discharge
    stored_kwh_th: np.ndarray  # per simulation step, after it
    lp_co2_kg: float  # season CO2 the LP predicts with its plan
    idle_co2_kg: float  # season CO2 without the tank
    dr_shortfall_kwh_th: float  # discharge the DR layer wanted and the plan did not store
    solve_s: float


class _Recorder:
    """Wraps a building and keeps the last output of each step index (warm-up included)."""

    def __init__(self, building: Any) -> None:
        self.b = building
        self.out: dict[int, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.b, name)

    def step(self, drivers: Any, k: int, setpoint_c: float, dt_s: float) -> Any:
        self.out[k] = o = self.b.step(drivers, k, setpoint_c, dt_s)
        return o


def step_trace(spec: ScenarioSpec, controller: Any, start_day: int = SEASON_FIRST_DAY,
               days: int | None = None) -> tuple[StepTrace, Kpis]:
    """Roll ``controller`` (its setpoint action only) out without a tank; the per-step trace."""
    days = days or SEASON_LAST_DAY + 1 - start_day
    env = CoolingEnv((spec,), building=spec.building, random_start=False)
    rec = _Recorder(env.building)
    env.building = rec  # type: ignore[assignment]
    kpis, _ = rollout(env, _SetpointOnly(controller), start_day=start_day, days=days)
    sph = env.sc.steps_per_hour
    ks = np.arange(start_day * 24 * sph, start_day * 24 * sph + days * 24 * sph)
    outs = [rec.out[int(k)] for k in ks]
    return StepTrace(
        mech_w_th=np.array([o.cooling_w * (1.0 - o.free_cooling) for o in outs]),
        cop=np.array([o.cop for o in outs]), elec_w=np.array([o.elec_w for o in outs]),
        ci_g_per_kwh=env.sc.ci_g_per_kwh[ks].astype(float), dr_event=env.sc.dr_event[ks] > 0,
        plant_capacity_w_th=float(env.building.cooling_capacity_w),
        dr_limit_w=DR_LIMIT_W_M2[spec.building] * env.sc.floor_area_m2, dt_s=env.dt_s,
        substeps=env.substeps, first_step=int(ks[0])), kpis


class _SetpointOnly:
    """A controller's setpoint action alone (for the env without a tank)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, getattr(inner, "name", "policy")

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> float:
        return float(np.asarray(self.inner.act(obs, state | {"storage": False})).reshape(-1)[0])


def solve_dispatch(tr: StepTrace, tank: TankParams) -> Dispatch:
    """The least-CO2 hourly tank plan for ``tr`` (see the module doc); raises when infeasible."""
    import time

    from scipy.optimize import linprog

    from apps.cooling.oracle_lp import dispatch_problem

    t0 = time.perf_counter()
    prob = dispatch_problem(tr, tank)
    res = linprog(prob.cost, A_ub=prob.a_ub, b_ub=prob.b_ub, A_eq=prob.a_eq, b_eq=prob.b_eq,
                  bounds=prob.bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"tank dispatch LP failed: {res.message}")
    x = np.asarray(res.x)
    u, stored, shortfall = prob.unpack(x)
    idle = float(np.sum(tr.ci_g_per_kwh * tr.elec_w) * tr.dt_s / 3600.0 / 1e6)
    return Dispatch(rate_w_th=u, stored_kwh_th=stored,
                    lp_co2_kg=idle + float(prob.co2_part @ x), idle_co2_kg=idle,
                    dr_shortfall_kwh_th=shortfall, solve_s=time.perf_counter() - t0)


class OracleController:
    """Replays a :class:`Dispatch`: the setpoint policy's action and the planned tank command
    (share of the rate limit) of the hour, looked up by day of year and hour; with no dispatch
    the tank command is 0 (the tank idles but for the env's demand-response layer)."""

    name = "oracle"

    def __init__(self, setpoint_policy: Any, dispatch: Dispatch | None, tank: TankParams,
                 first_hour: int) -> None:
        self.policy = _SetpointOnly(setpoint_policy)
        self.command = (None if dispatch is None
                        else np.clip(dispatch.rate_w_th / tank.max_rate_w_th, -1.0, 1.0))
        self.first_hour = first_hour

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        h = state["day_of_year"] * 24 + int(state["hour"]) - self.first_hour
        cmd = 0.0 if self.command is None else float(self.command[h])
        return np.array([self.policy.act(obs, state), cmd])


@dataclass(frozen=True)
class OracleResult:
    """The replayed oracle on one pair, with the LP's own prediction (kg CO2 per m2)."""

    kpis: Kpis
    no_tank_kpis: Kpis  # the setpoint policy without a tank
    idle_tank_kpis: Kpis  # ... with the tank commanded idle (the DR layer still runs it)
    lp_co2_kg_per_m2: float
    dispatch: Dispatch


def run_oracle(spec: ScenarioSpec, setpoint_policy: Any, storage_kwh: float,
               start_day: int = SEASON_FIRST_DAY, days: int | None = None) -> OracleResult:
    """Trace, solve and replay on one pair (see the module doc)."""
    days = days or SEASON_LAST_DAY + 1 - start_day
    tank = TankParams(float(storage_kwh))
    tr, no_tank = step_trace(spec, setpoint_policy, start_day, days)
    plan = solve_dispatch(tr, tank)
    env = CoolingEnv((spec,), building=spec.building, random_start=False, storage_kwh=storage_kwh)
    kpis, idle = (rollout(env, OracleController(setpoint_policy, p, tank, start_day * 24),
                          start_day=start_day, days=days)[0] for p in (plan, None))
    return OracleResult(kpis, no_tank, idle, plan.lp_co2_kg / env.sc.floor_area_m2, plan)
