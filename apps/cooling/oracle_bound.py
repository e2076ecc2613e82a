"""A lower bound on the office's season CO2 over every setpoint trajectory and tank dispatch: a
linear-programming relaxation of the simulator itself (simulated; perfect foresight; a bound,
not a controller).

The office zone (:mod:`apps.cooling.office`, ISO 13790 5R1C) is affine in its mass temperature
and its heating/cooling power, so the LP steps the very same equations per 15-minute step with
cooling ``q`` (W thermal) and heating ``h`` as free variables instead of a setpoint. Every
trajectory the env can produce satisfies the LP's constraints, so the LP's optimum is at most
any controller's CO2 (it drops the hourly hold, the 1 K / 15 min rate limit, the cooling-only-
to-a-setpoint rule and the demand-response layer, each of which only restricts the env):

- air >= the heating setpoint of the step (20 degC occupied, 16 degC otherwise: heating holds it);
- air <= 30 degC (the highest setpoint; holds while the plant is not at capacity: ``Bound``
  carries the peak load share of the warmest schedule allowed, 26 degC occupied and 30 degC
  otherwise, on the same days; the bound is valid while it stays below 1);
- cooling only toward a setpoint >= 22 degC (the lowest): ``q <= Q (air - heat_sp) / (22 -
  heat_sp)``, the convex hull of "no cooling" and "air >= 22 degC" (Q: plant capacity);
- occupied discomfort outside 21-26 degC, summed in K h, at most ``discomfort_kh``;
- electricity ``q / COP + h / heating COP + fan``, fan >= the ventilation fan and >= the fan
  that moves ``q`` (the office's SFP and supply delta-T);
- a tank (optional) with the limits of :mod:`apps.cooling.storage`, per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from apps.cooling.env import SEASON_FIRST_DAY, SEASON_LAST_DAY, CoolingEnv
from apps.cooling.office import RHO_C_AIR_J_M3K, OfficeZone
from apps.cooling.physics import carnot_cop
from apps.cooling.safety import MAX_RATE_K_PER_15MIN
from apps.cooling.scenario import ScenarioSpec, build_scenario
from apps.cooling.storage import TankParams

LOWEST_SETPOINT_C, HIGHEST_SETPOINT_C = 22.0, 30.0


@dataclass(frozen=True)
class Bound:
    """The relaxation's optimum on one pair (kg CO2 per m2) and its trajectory."""

    co2_kg_per_m2: float
    discomfort_kh: float
    air_c: np.ndarray  # per step
    cooling_w_th: np.ndarray  # building cooling, per step
    tank_net_w_th: np.ndarray  # > 0 charge, per step
    occupied: np.ndarray  # per step
    peak_load_share: float  # warmest schedule's peak cooling / plant capacity (< 1: valid)
    solve_s: float


def _affine(zone: OfficeZone, d: Any, ks: np.ndarray, dt_s: float) -> dict[str, np.ndarray]:
    """Per step: mass-after and air as ``c0 + c_m m_prev + c_p phi`` (phi: heating(+) W)."""
    te, pi, ps, hv = (np.asarray(a, float)[ks] for a in (d.temp_out_c, d.phi_int_w, d.phi_sol_w,
                                                          d.h_ve_w_k))

    def solve(m: float, phi: float) -> tuple[np.ndarray, np.ndarray]:
        zone.theta_m = m  # type: ignore[assignment]
        mt, _, air = zone._solve(te, pi, ps, hv, phi, dt_s)  # type: ignore[arg-type]
        return np.asarray(mt), np.asarray(air)

    (m0, a0), (m1, a1), (mp, ap) = solve(0.0, 0.0), solve(1.0, 0.0), solve(0.0, 1.0)
    return {"m0": m0, "mm": m1 - m0, "mp": mp - m0, "a0": a0, "am": a1 - a0, "ap": ap - a0}


class _Rows:
    """Accumulates sparse rows ``sum vals x[cols] (<= | =) rhs``."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.n = 0

    def add(self, rhs: np.ndarray, *terms: tuple[Any, ...]) -> None:
        """``terms``: (cols, vals) over every row, or (cols, vals, which) over some rows
        (``which``: a boolean mask, or the row of each column)."""
        for term in terms:
            cols, vals = term[0], term[1]
            which = np.asarray(term[2]) if len(term) == 3 else np.ones(len(rhs), bool)
            rows = self.n + (np.flatnonzero(which) if which.dtype == bool else which)
            self.r.append(rows)
            self.c.append(np.asarray(cols, int))
            self.v.append(np.broadcast_to(np.asarray(vals, float), rows.shape).copy())
        self.b.append(np.asarray(rhs, float))
        self.n += len(rhs)

    def matrix(self, nv: int) -> tuple[Any, np.ndarray]:
        m = sparse.csr_matrix((np.concatenate(self.v), (np.concatenate(self.r),
                                                        np.concatenate(self.c))), shape=(self.n, nv))
        return m, np.concatenate(self.b)


@dataclass(frozen=True)
class _Season:
    """The office's per-step inputs over the window, for the LP."""

    ks: np.ndarray  # scenario step indices
    c: dict[str, np.ndarray]  # affine step coefficients (:func:`_affine`)
    a0: np.ndarray  # air's constant, m_init's share included in step 0
    m_init: float
    occ: np.ndarray
    heat_sp: np.ndarray
    cop: np.ndarray
    ci: np.ndarray
    dt_h: float


def _season(spec: ScenarioSpec, start_day: int, days: int) -> _Season:
    sc = build_scenario(spec)
    env = CoolingEnv((spec,), random_start=False)
    env.reset(seed=0, options={"scenario": 0, "start_day": start_day})  # rollout's start state
    m_init, p = float(env.building.state()), OfficeZone().p
    ks = np.arange(start_day * 24 * sc.steps_per_hour, (start_day + days) * 24 * sc.steps_per_hour)
    c = _affine(OfficeZone(), sc.drivers, ks, sc.dt_s)
    occ = np.asarray(sc.drivers.occupied, bool)[ks]
    cop = np.array([carnot_cop(p.evaporator_c, t + p.condenser_approach_k, p.cop_carnot_fraction)
                    for t in sc.temp_out_c[ks]])
    a0 = c["a0"] + np.where(np.arange(len(ks)) > 0, 0.0, c["am"] * m_init)
    return _Season(ks, c, a0, m_init, occ,
                   np.where(occ, p.heating_setpoint_occ_c, p.heating_setpoint_unocc_c), cop,
                   sc.ci_g_per_kwh[ks].astype(float), sc.dt_s / 3600.0)


def _relaxation(se: _Season, discomfort_kh: float, storage_kwh: float) -> dict[str, Any]:
    """linprog's arguments for the module doc's LP. Variable blocks of one value per step:
    m (mass after the step), q (cooling W), h (heating W), fan W, v (discomfort K), u (tank W,
    > 0 charge), P (tank kWh before the step's standing loss)."""
    zone, n, c, dt_h = OfficeZone(), len(se.ks), se.c, se.dt_h
    p = zone.p
    M, Q, H, F, V, U, P = (np.arange(n) + i * n for i in range(7))
    first = np.arange(n) > 0  # steps whose m_{k-1} is a variable (step 0 starts at m_init)
    prev = (M - 1)[first]
    eq, ub = _Rows(), _Rows()
    rhs = c["m0"].copy()
    rhs[0] += c["mm"][0] * se.m_init
    eq.add(rhs, (M, 1.0), (prev, -c["mm"][first], first), (Q, c["mp"]), (H, -c["mp"]))

    def air(sign: float, rhs: np.ndarray, *extra: tuple[Any, ...]) -> None:
        """Rows ``sign * air + extra <= rhs`` (air's constant moved to the right)."""
        ub.add(rhs - sign * se.a0, (Q, -sign * c["ap"]), (H, sign * c["ap"]),
               (prev, sign * c["am"][first], first), *extra)

    air(-1.0, -se.heat_sp)  # air >= heating setpoint
    air(1.0, np.full(n, HIGHEST_SETPOINT_C))
    q_cap = zone.cooling_capacity_w
    hull = q_cap / (LOWEST_SETPOINT_C - se.heat_sp)  # q <= hull (air - heat_sp)
    ub.add(hull * (se.a0 - se.heat_sp), (Q, 1.0 + hull * c["ap"]), (H, -hull * c["ap"]),
           (prev, -hull[first] * c["am"][first], first))
    lo, hi = zone.comfort_band_c
    off = np.where(se.occ, 0.0, 1e3)  # unoccupied rows never bind
    air(1.0, hi + off, (V, -1.0))
    air(-1.0, -lo + off, (V, -1.0))
    ub.add(np.array([discomfort_kh]), (V, np.where(se.occ, dt_h, 0.0), np.zeros(n, int)))
    ub.add(np.zeros(n), (Q, p.fan_w_per_m3_s / (RHO_C_AIR_J_M3K * p.supply_delta_t_k)), (F, -1.0))
    ub.add(np.full(n, q_cap), (U, 1.0), (Q, 1.0))  # charge <= capacity - load
    ub.add(np.zeros(n), (U, -1.0), (Q, -1.0))  # discharge <= load
    tank = TankParams(storage_kwh)
    g = 1.0 - tank.loss_per_day * dt_h / 24.0
    eq.add(np.zeros(n), (P, 1.0), (U, -dt_h / 1000.0), (P[:-1], -g, first))
    w = se.ci * dt_h / 1e6  # kg per W held one step
    zero = np.zeros(n)
    vent_w = np.where(se.occ, p.fan_w_per_m3_s * p.vent_l_s_m2 / 1000.0 * p.floor_area_m2, 0.0)
    rate, heat_cap = tank.max_rate_w_th, p.heating_capacity_w_m2 * p.floor_area_m2
    (a_eq, b_eq), (a_ub, b_ub) = eq.matrix(7 * n), ub.matrix(7 * n)
    return {"c": np.concatenate([zero, w / se.cop, w / p.heating_cop, w, zero, w / se.cop, zero]),
            "A_ub": a_ub, "b_ub": b_ub, "A_eq": a_eq, "b_eq": b_eq,
            "bounds": ([(None, None)] * n + [(0.0, q_cap)] * n + [(0.0, heat_cap)] * n
                       + [(float(f), None) for f in vent_w] + [(0.0, None)] * n
                       + [(-rate, rate)] * n + [(0.0, storage_kwh)] * n)}


def co2_bound(spec: ScenarioSpec, discomfort_kh: float, storage_kwh: float = 0.0,
              start_day: int = SEASON_FIRST_DAY, days: int | None = None) -> Bound:
    """Solve the relaxation of the module doc on one office pair (rollout seed 0's start)."""
    import time

    from scipy.optimize import linprog

    if spec.building != "office":
        raise ValueError("the relaxation models the office zone; pass an office scenario")
    t0 = time.perf_counter()
    days = days or SEASON_LAST_DAY + 1 - start_day
    se = _season(spec, start_day, days)
    res = linprog(method="highs", **_relaxation(se, discomfort_kh, storage_kwh))
    if res.status != 0:
        raise RuntimeError(f"CO2 bound LP failed on {spec.label}: {res.message}")
    n, c = len(se.ks), se.c
    m, q, h, v, u = (res.x[i * n:(i + 1) * n] for i in (0, 1, 2, 4, 5))
    air_c = se.a0 + c["ap"] * (h - q) + c["am"] * np.r_[0.0, m[:-1]]
    return Bound(float(res.fun) / OfficeZone().p.floor_area_m2,
                 float(np.sum(v * np.where(se.occ, se.dt_h, 0.0))), air_c, q.copy(), u.copy(),
                 se.occ, _peak_load_share(spec, start_day, days), time.perf_counter() - t0)


def _peak_load_share(spec: ScenarioSpec, start_day: int, days: int) -> float:
    """Peak cooling of the warmest allowed schedule over the plant's capacity."""
    from apps.cooling.oracle import step_trace
    from apps.cooling.rule_bound import ScheduleParams, ScheduleRule

    tr, _ = step_trace(spec, ScheduleRule(ScheduleParams(setback_c=HIGHEST_SETPOINT_C)),
                       start_day, days)
    return float(tr.mech_w_th.max() / tr.plant_capacity_w_th)


def hourly_setpoints(bound: Bound, substeps: int, min_cooling_w: float = 1.0) -> np.ndarray:
    """One setpoint per control hour that replays ``bound`` as closely as a held setpoint can:
    the air of the hour's last cooled step, or the highest setpoint allowed when the LP does
    not cool in that hour (degC; occupied hours 22-26, others 22-30, as the envelope allows),
    lowered where the next hour's value would be out of the rate limit's reach in one step."""
    n_h = len(bound.air_c) // substeps
    air = bound.air_c.reshape(n_h, substeps)
    cooled = bound.cooling_w_th.reshape(n_h, substeps) > min_cooling_w
    occ = bound.occupied.reshape(n_h, substeps)[:, 0]
    top = np.where(occ, 26.0, HIGHEST_SETPOINT_C)
    last = np.where(cooled.any(axis=1), air[np.arange(n_h), substeps - 1 - np.argmax(
        cooled[:, ::-1], axis=1)], top)
    sp = np.clip(last, LOWEST_SETPOINT_C, top)
    for h in range(n_h - 2, -1, -1):  # reach each hour's value in its first step
        sp[h] = min(sp[h], sp[h + 1] + MAX_RATE_K_PER_15MIN)
    return sp


class HourlySetpoints:
    """A setpoint policy from a table (one degC value per hour from ``first_hour``, an hour of
    the year), looked up by day of year and hour."""

    name = "lp_schedule"

    def __init__(self, setpoints_c: np.ndarray, first_hour: int, envelope: Any) -> None:
        self.setpoints_c, self.first_hour, self.envelope = setpoints_c, first_hour, envelope

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> float:
        from apps.cooling.safety import setpoint_to_action

        h = state["day_of_year"] * 24 + int(state["hour"]) - self.first_hour
        return setpoint_to_action(float(self.setpoints_c[h]), state["occupied"], self.envelope)
