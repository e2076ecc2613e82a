"""Gymnasium environment: one office zone or data hall on real weather and grid carbon.

Observation (float32, 24 values, roughly unit-scaled): sin/cos of local hour and day of year,
occupied now / within the next hour, outdoor temperature now and forecast +1/+3/+6 h, controlled
temperature, current setpoint, carbon intensity now and its 24 h forecast as eight 3-hour means,
price, demand-response event now / within 3 h; with a chilled-water tank
(:mod:`apps.cooling.storage`) a 25th value, its state of charge. Forecasts are perfect (taken
from the files). Action: one value in [-1, 1] = setpoint offset around the envelope's reference
(see :mod:`apps.cooling.safety`); the setpoint is clamped and rate-limited (1 K / 15 min). With a
tank a second value in [-1, 1] charges (> 0) or discharges (< 0) it, and on demand-response
event days a layer runs the tank for every controller (fill by the event, discharge to hold the
import limit, then move the setpoint toward the plant's least-import one in the comfort band:
``_dr_prepare``, ``_dr_layer``).
Without a tank (the default) the env is exactly the one without storage support.
Reward: -(lambda_E kWh + lambda_C kgCO2 + lambda_T discomfort K h + lambda_DR kWh over the DR
limit), per 100 m2 of floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from apps.cooling.safety import (
    ENVELOPES,
    Envelope,
    action_to_setpoint,
    clamp,
    dr_prepare_command,
    dr_storage_command,
    rate_limit,
)
from apps.cooling.scenario import ScenarioSpec, build_scenario, default_train_spec, make_building
from apps.cooling.storage import Tank, TankParams, carbon_spread_command

OBS_DIM = 24
SEASON_FIRST_DAY = 151  # 1 June (0-based day of 2022)
SEASON_LAST_DAY = 272  # 30 September
WARMUP_DAYS = 2


@dataclass(frozen=True)
class RewardWeights:
    """Reward weights; per kWh, per kgCO2, per K h of discomfort, per kWh above a DR limit."""

    energy_per_kwh: float = 0.10
    co2_per_kg: float = 0.25
    discomfort_per_kh: float = 10.0  # steep: savings must not be bought with discomfort
    dr_per_kwh: float = 0.5


DR_LIMIT_W_M2 = {"office": 15.0, "datahall": 40.0}  # HVAC import limit during DR events
# Random demand-response events in training (``random_dr``): each weekday of an episode has an
# event 14-18 h local with this probability (the scheduled events are 10 days per summer).
RANDOM_DR_DAY_PROBABILITY = 0.3
DR_HOURS = (14, 18)


def build_observation(*, hour: float, day: int, occupied: bool, occupied_next: bool,
                      outdoor_c: float, outdoor_forecast_c: np.ndarray, temp_c: float,
                      setpoint_c: float, ci_g_per_kwh: float, ci_3h_means_24h: np.ndarray,
                      price_usd_per_kwh: float, dr_now: bool, dr_soon: bool,
                      envelope: Envelope, soc: float | None = None) -> np.ndarray:
    """The 24-value observation (shared by the env and the BMS service so both see the same);
    25 values with a tank's state of charge ``soc`` (0..1)."""
    ref = envelope.reference_occupied_c + envelope.temp_offset_k
    obs = np.concatenate([
        [np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
         np.sin(2 * np.pi * day / 365), np.cos(2 * np.pi * day / 365),
         float(occupied), float(occupied_next), (outdoor_c - 25.0) / 10.0],
        (np.asarray(outdoor_forecast_c, float) - 25.0) / 10.0,
        [(temp_c - ref) / 3.0, (setpoint_c - envelope.reference_occupied_c) / 3.0,
         ci_g_per_kwh / 500.0],
        np.asarray(ci_3h_means_24h, float) / 500.0,
        [price_usd_per_kwh / 0.2, float(dr_now), float(dr_soon)],
        [] if soc is None else [float(soc)],
    ])
    return np.clip(obs, -10.0, 10.0).astype(np.float32)


CI_NOW_INDEX = 12  # positions in build_observation's vector
CI_24H_SLICE = slice(13, 21)


def policy_tank_command(obs: np.ndarray, residual: float) -> float:
    """A learned policy's tank command: its output ``residual`` added to the carbon-spread
    dispatch of the observation's CI now and 24 h forecast
    (:func:`apps.cooling.storage.carbon_spread_command`), clipped to [-1, 1]. Why a residual:
    with a plain charge/discharge output PPO learns never to charge (a charge costs at once and
    pays only if a later discharge falls in a dirtier hour, which an exploring policy's does
    not), so it leaves the tank idle; around a sensible dispatch it learns the corrections."""
    o = np.asarray(obs, float).reshape(-1)
    base = carbon_spread_command(float(o[CI_NOW_INDEX]), float(o[CI_24H_SLICE].mean()))
    return float(np.clip(base + float(residual), -1.0, 1.0))


def policy_action(obs: np.ndarray, raw: np.ndarray) -> float | np.ndarray:
    """A learned policy's action from its network output ``raw``: the setpoint value (float)
    without a tank; with one, [setpoint, :func:`policy_tank_command`]. What the agent and the
    compact policy both serve."""
    flat = np.asarray(raw, float).reshape(-1).copy()
    if flat.size == 1:
        return float(flat[0])
    flat[1] = policy_tank_command(obs, flat[1])
    return flat


class CoolingEnv(gym.Env):
    """Cooling control over one or more scenarios; an episode is ``episode_days`` of the season."""

    metadata = {"render_modes": []}

    def __init__(self, specs: Sequence[ScenarioSpec] | None = None, building: str = "office",
                 episode_days: int = 7, control_step_min: int = 60, dt_s: float = 900.0,
                 weights: RewardWeights | None = None, random_start: bool = True,
                 storage_kwh: float = 0.0, random_dr: bool = False) -> None:
        super().__init__()
        self.specs = tuple(specs) if specs else (default_train_spec(building),)
        if any(s.building != building for s in self.specs):
            raise ValueError(f"all scenarios must be for building {building!r}")
        if control_step_min * 60 % dt_s:
            raise ValueError("control_step_min must be a multiple of the simulation step")
        self.building_kind = building
        self.envelope = ENVELOPES[building]
        self.episode_days, self.dt_s = int(episode_days), float(dt_s)
        self.substeps = int(control_step_min * 60 // dt_s)
        self.weights = weights or RewardWeights()
        self.random_start = random_start
        self.tank = Tank(TankParams(float(storage_kwh))) if storage_kwh > 0 else None
        self.random_dr = bool(random_dr)
        n_obs, n_act = (OBS_DIM, 1) if self.tank is None else (OBS_DIM + 1, 2)
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (n_obs,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n_act,), np.float32)
        self.scenarios = [build_scenario(s, self.dt_s) for s in self.specs]
        self.sc = self.scenarios[0]
        self.building = make_building(building)
        self.k = self.k_end = 0
        self.setpoint_c = self.envelope.reference_occupied_c
        self.dr_event = self.sc.dr_event

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        idx = options.get("scenario", int(self.np_random.integers(len(self.scenarios))))
        self.sc = self.scenarios[int(idx)]
        last_start = SEASON_LAST_DAY + 1 - self.episode_days
        if "start_day" in options:
            day = int(options["start_day"])
        elif self.random_start:
            day = int(self.np_random.integers(SEASON_FIRST_DAY, max(last_start, SEASON_FIRST_DAY) + 1))
        else:
            day = SEASON_FIRST_DAY
        sph = self.sc.steps_per_hour
        self.k = day * 24 * sph
        self.k_end = min(self.k + self.episode_days * 24 * sph, self.sc.n_steps)
        self._warm_up(float(self.np_random.uniform(-1.0, 1.0)))
        self.dr_event = self._random_dr() if self.random_dr else self.sc.dr_event
        if self.tank is not None:
            self.tank.reset()
        return self._obs(), {"scenario": self.sc.spec.label, "start_day": day}

    def step(self, action):
        a = np.asarray(action, dtype=float).reshape(-1)
        target = action_to_setpoint(float(a[0]), bool(self.sc.occupied[self.k]), self.envelope)
        info = self._advance(target, float(a[1]) if self.tank is not None and a.size > 1 else 0.0)
        w = self.weights
        reward = -(w.energy_per_kwh * info["elec_kwh"] + w.co2_per_kg * info["co2_kg"]
                   + w.discomfort_per_kh * info["discomfort_kh"] + w.dr_per_kwh * info["dr_excess_kwh"])
        reward /= self.sc.floor_area_m2 / 100.0
        truncated = self.k >= self.k_end
        return self._obs(), float(reward), False, truncated, info

    # -- simulation ----------------------------------------------------------------------
    def _warm_up(self, start_offset_k: float) -> None:
        """Run the reference schedule for two days so the thermal mass starts realistic."""
        env, sph = self.envelope, self.sc.steps_per_hour
        self.building.reset(env.reference_occupied_c + env.temp_offset_k + start_offset_k)
        k0 = max(self.k - WARMUP_DAYS * 24 * sph, 0)
        for k in range(k0, self.k):
            ref = env.reference_occupied_c if self.sc.occupied[k] else env.reference_unoccupied_c
            self.building.step(self.sc.drivers, k, ref, self.dt_s)
        self.setpoint_c = env.reference_unoccupied_c if not self.sc.occupied[self.k] else env.reference_occupied_c
        self.temp_c = self.setpoint_c + env.temp_offset_k

    def _random_dr(self) -> np.ndarray:
        """Random events for this episode: weekday afternoons, see RANDOM_DR_DAY_PROBABILITY."""
        sc, sph = self.sc, self.sc.steps_per_hour
        mask = np.zeros(sc.n_steps)
        for day in range(self.k // (24 * sph), -(-self.k_end // (24 * sph))):
            start = day * 24 * sph
            weekday = bool(sc.occupied[start:start + 24 * sph].any())
            if weekday and self.np_random.random() < RANDOM_DR_DAY_PROBABILITY:
                mask[start + DR_HOURS[0] * sph:start + DR_HOURS[1] * sph] = 1.0
        return mask

    def _with_tank(self, out: Any, command: float) -> Any:
        """The step's electricity with the tank charged or discharged (see apps.cooling.storage)."""
        assert self.tank is not None
        mech_w = out.cooling_w * (1.0 - out.free_cooling)
        ts = self.tank.step(command, mech_w, self.building.cooling_capacity_w, self.dt_s)
        delta_w = (ts.chiller_w_th - mech_w) / out.cop
        return out._replace(elec_w=out.elec_w + delta_w, cooling_elec_w=out.cooling_elec_w + delta_w)

    def _holding_import_w(self, setpoint_c: float, k: int, full_tank: bool) -> float:
        """Import in step ``k`` of the plant already holding ``setpoint_c`` (its thermal state at
        the controlled temperature it gives), less what the tank can carry: its rate limit
        (``full_tank``) or what it holds now. A trial step: the building's state is restored."""
        assert self.tank is not None
        tank, building = self.tank, self.building
        saved = building.state()
        building.reset(setpoint_c + self.envelope.temp_offset_k)
        o = building.step(self.sc.drivers, k, setpoint_c, self.dt_s)
        building.reset(saved)
        mech_w = o.cooling_w * (1.0 - o.free_cooling)
        tank_w = (min(tank.p.max_rate_w_th, max(mech_w, 0.0)) if full_tank
                  else tank.max_discharge_w_th(mech_w, self.dt_s))
        return float(o.elec_w - tank_w / o.cop)

    def _dr_setpoint_c(self, k: int, full_tank: bool, probe_k: float = 0.5) -> float:
        """The setpoint in the comfort band whose holding import (:meth:`_holding_import_w`) is
        least, probed every ``probe_k`` K from the warm edge down (ties: the warmest). Office:
        the warm edge (a warmer zone needs less cooling). Data hall: about 24 degC inlet, where
        the server fans start speeding up; above it, once the tank carries the chiller's load,
        a warmer inlet only adds server-fan power to the import."""
        env = self.envelope
        n = int(round((env.comfort_high_c - env.comfort_low_c) / probe_k))
        best_c, best_w = env.comfort_high_c, float("inf")
        for i in range(n + 1):
            sp = clamp(env.comfort_high_c - i * probe_k - env.temp_offset_k, env)
            w = self._holding_import_w(sp, k, full_tank)
            if w < best_w:
                best_c, best_w = sp, w
        return best_c

    def _redo_toward(self, out: Any, before: float, previous_c: float, goal_c: float,
                     k: int) -> Any:
        """Step ``k`` redone from state ``before`` with the setpoint moved from ``previous_c``
        toward ``goal_c`` (clamped, rate-limited); ``out`` when that leaves it where it is."""
        moved_c = clamp(rate_limit(previous_c, goal_c, self.dt_s), self.envelope)
        if moved_c == self.setpoint_c:
            return out
        self.building.reset(before)
        self.setpoint_c = moved_c
        return self.building.step(self.sc.drivers, k, moved_c, self.dt_s)

    def _dr_layer(self, out: Any, before: float, previous_c: float, target_c: float,
                  command: float, limit_w: float, k: int) -> tuple[Any, float]:
        """The demand-response layer of a plant with a tank, the same for every controller: in an
        event step the tank discharges what keeps the step's import within ``limit_w`` (it never
        charges: :func:`apps.cooling.safety.dr_storage_command`). The controller's setpoint
        stands when a full discharge holds the limit in this step and while holding that
        setpoint; otherwise the step is redone with the setpoint moved (rate-limited) toward the
        plant's least-import setpoint in the comfort band (:meth:`_dr_setpoint_c`), or the
        controller's own if it lies beyond it. Returns the step and the tank command."""
        assert self.tank is not None
        tank = self.tank

        def best_w(o: Any) -> float:  # import with the most the tank can deliver
            return o.elec_w - tank.max_discharge_w_th(o.cooling_w * (1.0 - o.free_cooling),
                                                      self.dt_s) / o.cop

        sp = self.setpoint_c
        if best_w(out) > limit_w or self._holding_import_w(sp, k, False) > limit_w:
            dr_c = self._dr_setpoint_c(k, False)
            goal_c = max(target_c, dr_c) if dr_c >= sp else min(target_c, dr_c)
            out = self._redo_toward(out, before, previous_c, goal_c, k)
        # aim 1 W under the limit, so rounding never reads as a breach
        needed = max(out.elec_w - (limit_w - 1.0), 0.0) * out.cop / tank.p.max_rate_w_th
        return out, dr_storage_command(command, tank.soc, True, needed)

    def _dr_prepare(self, out: Any, before: float, previous_c: float, target_c: float,
                    command: float, limit_w: float, k: int) -> tuple[Any, float]:
        """Before an event later the same day (announced a day ahead), the layer fills the tank
        by the event's start (:func:`apps.cooling.safety.dr_prepare_command`). In the last hour
        before it, if the controller's setpoint could not be held within ``limit_w`` at the
        event's start with the full tank and the plant's least-import setpoint
        (:meth:`_dr_setpoint_c`) is cooler, the step is redone with the setpoint moved toward it
        (rate-limited): cooling down takes the rate limit's time and the thermal mass's, so it
        starts before the event (relaxing warmer acts within a step). Returns the step and the
        tank command."""
        assert self.tank is not None
        sph = self.sc.steps_per_hour
        day_end = (k // (24 * sph) + 1) * 24 * sph
        ahead = self.dr_event[k:day_end]
        if not ahead.any():
            return out, command
        steps = int(np.argmax(ahead > 0))
        sp = self.setpoint_c
        if steps <= sph and self._holding_import_w(sp, k + steps, True) > limit_w:
            dr_c = self._dr_setpoint_c(k + steps, True)
            if dr_c < sp:
                out = self._redo_toward(out, before, previous_c, min(target_c, dr_c), k)
        hours = steps * self.dt_s / 3600.0
        return out, dr_prepare_command(command, self.tank.soc, hours, self.tank.p.hours_to_full)

    def _advance(self, target_c: float, storage_command: float = 0.0) -> dict[str, Any]:
        sc, env, dt_h = self.sc, self.envelope, self.dt_s / 3600.0
        acc = dict(elec_kwh=0.0, cooling_elec_kwh=0.0, co2_kg=0.0, co2_marginal_kg=0.0, cost_usd=0.0,
                   discomfort_kh=0.0, occupied_h=0.0, outside_band_h=0.0, dr_excess_kwh=0.0,
                   peak_kw=0.0, dr_event_h=0.0, dr_within_h=0.0, dr_event_kwh=0.0)
        dr_limit_kw = DR_LIMIT_W_M2[self.building_kind] * sc.floor_area_m2 / 1000.0
        for _ in range(self.substeps):
            if self.k >= sc.n_steps:
                break
            k = self.k
            before, previous_c = self.building.state(), self.setpoint_c
            self.setpoint_c = clamp(rate_limit(previous_c, target_c, self.dt_s), env)
            out = self.building.step(sc.drivers, k, self.setpoint_c, self.dt_s)
            command = storage_command
            if self.tank is not None and self.dr_event[k]:
                out, command = self._dr_layer(out, before, previous_c, target_c, command,
                                              dr_limit_kw * 1000.0, k)
            elif self.tank is not None:
                out, command = self._dr_prepare(out, before, previous_c, target_c, command,
                                                dr_limit_kw * 1000.0, k)
            if self.tank is not None:
                out = self._with_tank(out, command)
            kw = out.elec_w / 1000.0
            kwh = kw * dt_h
            acc["elec_kwh"] += kwh
            acc["cooling_elec_kwh"] += out.cooling_elec_w / 1000.0 * dt_h
            acc["co2_kg"] += kwh * sc.ci_g_per_kwh[k] / 1000.0
            acc["co2_marginal_kg"] += kwh * sc.ci_marginal_g_per_kwh[k] / 1000.0
            acc["cost_usd"] += kwh * sc.price_usd_per_kwh[k]
            acc["peak_kw"] = max(acc["peak_kw"], kw)
            if self.dr_event[k]:
                excess_kw = max(kw - dr_limit_kw, 0.0)
                acc["dr_excess_kwh"] += excess_kw * dt_h
                acc["dr_event_h"] += dt_h
                acc["dr_within_h"] += dt_h * (excess_kw <= 0.0)
                acc["dr_event_kwh"] += kwh
            if out.occupied:
                dev = max(env.comfort_low_c - out.temp_c, out.temp_c - env.comfort_high_c, 0.0)
                acc["discomfort_kh"] += dev * dt_h
                acc["occupied_h"] += dt_h
                acc["outside_band_h"] += dt_h * (dev > 0.05)
            self.temp_c = out.temp_c
            self.k += 1
        acc.update(temp_c=self.temp_c, setpoint_c=self.setpoint_c, outdoor_c=float(sc.temp_out_c[self.k - 1]),
                   ci_g_per_kwh=float(sc.ci_g_per_kwh[self.k - 1]), step=self.k - 1,
                   soc=self.tank.soc if self.tank is not None else 0.0,
                   dr_event=float(self.dr_event[self.k - 1]))
        return acc

    # -- observation ---------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        sc, k, sph = self.sc, min(self.k, self.sc.n_steps - 1), self.sc.steps_per_hour
        hour, day = sc.hour_of_day[k], sc.day_of_year[k]
        ahead = np.arange(k, k + 24 * sph)
        ci24 = np.take(sc.ci_g_per_kwh, ahead, mode="wrap").reshape(8, 3 * sph).mean(axis=1)
        fc = np.take(sc.temp_out_c, [k + sph, k + 3 * sph, k + 6 * sph], mode="wrap")
        occ_next = np.take(sc.occupied, k + sph, mode="wrap")
        dr_soon = np.take(self.dr_event, np.arange(k, k + 3 * sph), mode="wrap").max()
        return build_observation(
            hour=hour, day=day, occupied=bool(sc.occupied[k]), occupied_next=bool(occ_next),
            outdoor_c=float(sc.temp_out_c[k]), outdoor_forecast_c=fc, temp_c=self.temp_c,
            setpoint_c=self.setpoint_c, ci_g_per_kwh=float(sc.ci_g_per_kwh[k]),
            ci_3h_means_24h=ci24, price_usd_per_kwh=float(sc.price_usd_per_kwh[k]),
            dr_now=bool(self.dr_event[k]), dr_soon=bool(dr_soon), envelope=self.envelope,
            soc=self.tank.soc if self.tank is not None else None)

    # -- for rule-based controllers ------------------------------------------------------
    def control_state(self) -> dict[str, Any]:
        """Raw (unscaled) state for rule-based controllers: local hour, occupancy, CI forecast."""
        sc, k, sph = self.sc, min(self.k, self.sc.n_steps - 1), self.sc.steps_per_hour
        return {
            "hour": float(sc.hour_of_day[k]), "occupied": bool(sc.occupied[k]),
            "occupied_within_h": [bool(np.take(sc.occupied, k + h * sph, mode="wrap")) for h in range(1, 5)],
            "ci_now": float(sc.ci_g_per_kwh[k]),
            "ci_24h": np.take(sc.ci_g_per_kwh, np.arange(k, k + 24 * sph, sph), mode="wrap"),
            "day_of_year": int(sc.day_of_year[k]), "month": int(sc.weather.local_times[k // sph].month),
            "temp_c": self.temp_c, "setpoint_c": self.setpoint_c, "dr_now": bool(self.dr_event[k]),
            "outdoor_c": float(sc.temp_out_c[k]),
            "price_24h": np.take(sc.price_usd_per_kwh, np.arange(k, k + 24 * sph, sph), mode="wrap"),
            "price_now": float(sc.price_usd_per_kwh[k]),
            "storage": self.tank is not None, "soc": self.tank.soc if self.tank is not None else 0.0,
        }

    def describe(self) -> dict[str, Any]:
        """What this env is, for model cards."""
        return {"building": self.building_kind, "scenarios": [s.label for s in self.specs],
                "storage_kwh_th": self.tank.p.capacity_kwh_th if self.tank is not None else 0.0,
                "random_dr": self.random_dr,
                "episode_days": self.episode_days, "control_step_min": self.substeps * self.dt_s / 60,
                "dt_s": self.dt_s, "weights": asdict(self.weights), "envelope": asdict(self.envelope)}


def register_envs() -> None:
    """Register the string ids (idempotent); runs when this module is imported."""
    from apps.cooling import DATAHALL_ENV_ID, ENV_ID

    for env_id, kind in ((ENV_ID, "office"), (DATAHALL_ENV_ID, "datahall")):
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="apps.cooling.env:CoolingEnv", kwargs={"building": kind})


register_envs()
