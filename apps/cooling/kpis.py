"""BOPTEST-style KPIs of one controller on one scenario, and the rollout that produces them.

Definitions follow BOPTEST (Blum et al., J. Build. Perf. Sim. 14(5), 2021): energy and emissions
per floor area, cost, thermal discomfort in K h (deviation of the controlled temperature outside
the comfort band, summed over occupied time), peak electric demand (15-minute mean), and the
computation time ratio (controller time per control step / control step length). Demand
response (OpenADR-style import limit, :data:`apps.cooling.env.DR_LIMIT_W_M2`): the share of
event time whose 15-minute import stayed within the limit, and the electricity used in events
(the energy shed is the naive controller's event energy minus this, see ``evaluate``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from apps.cooling.env import SEASON_FIRST_DAY, SEASON_LAST_DAY, CoolingEnv

SUM_KEYS = ("elec_kwh", "cooling_elec_kwh", "co2_kg", "co2_marginal_kg", "cost_usd",
            "discomfort_kh", "occupied_h", "outside_band_h", "dr_excess_kwh", "dr_event_h",
            "dr_within_h", "dr_event_kwh")


@dataclass(frozen=True)
class Kpis:
    """Simulated (not measured) KPIs over the evaluation period."""

    energy_kwh_per_m2: float  # all HVAC electricity
    cooling_kwh_per_m2: float  # electricity attributable to cooling (chiller, fans, pumps)
    co2_kg_per_m2: float  # average hourly intensity (EIA-930, lifecycle)
    co2_marginal_kg_per_m2: float  # labelled marginal estimate (see apps.cooling.grid)
    cost_per_m2: float  # USD, modelled TOU tariff
    discomfort_kh: float
    peak_kw: float
    outside_band_share: float  # occupied hours outside the comfort band / occupied hours
    dr_excess_kwh: float
    compute_time_ratio: float
    days: int
    dr_event_h: float = 0.0  # hours of demand-response events in the period
    dr_within_limit_share: float = 1.0  # share of event time within the import limit (1: none)
    dr_event_kwh_per_m2: float = 0.0  # electricity used during events

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Trace:
    """Hourly traces of one rollout, for plots."""

    hours: np.ndarray
    temp_c: np.ndarray
    setpoint_c: np.ndarray
    outdoor_c: np.ndarray
    ci_g_per_kwh: np.ndarray
    power_kw: np.ndarray
    soc: np.ndarray  # tank state of charge 0..1 (zeros without a tank)
    dr_event: np.ndarray  # 1 in demand-response event hours


def rollout(env: CoolingEnv, controller: Any, scenario: int = 0, start_day: int = SEASON_FIRST_DAY,
            days: int | None = None, seed: int = 0) -> tuple[Kpis, Trace]:
    """Run ``controller`` over ``days`` (default: the June-September season) and score it."""
    days = days or SEASON_LAST_DAY + 1 - start_day
    env.episode_days = days
    obs, _ = env.reset(seed=seed, options={"scenario": scenario, "start_day": start_day})
    sums = dict.fromkeys(SUM_KEYS, 0.0)
    peak_kw, ctrl_s, steps = 0.0, 0.0, 0
    rows: list[tuple[float, ...]] = []
    truncated = False
    while not truncated:
        t0 = time.perf_counter()
        action = controller.act(obs, env.control_state())
        ctrl_s += time.perf_counter() - t0
        obs, _, _, truncated, info = env.step(np.array([action], dtype=np.float32))
        for key in SUM_KEYS:
            sums[key] += float(info[key])
        peak_kw = max(peak_kw, info["peak_kw"])
        rows.append((info["step"], info["temp_c"], info["setpoint_c"], info["outdoor_c"],
                     info["ci_g_per_kwh"], info["elec_kwh"] / (env.substeps * env.dt_s / 3600.0),
                     info["soc"], info["dr_event"]))
        steps += 1
    area = env.sc.floor_area_m2
    kpis = Kpis(
        energy_kwh_per_m2=sums["elec_kwh"] / area, cooling_kwh_per_m2=sums["cooling_elec_kwh"] / area,
        co2_kg_per_m2=sums["co2_kg"] / area, co2_marginal_kg_per_m2=sums["co2_marginal_kg"] / area,
        cost_per_m2=sums["cost_usd"] / area, discomfort_kh=sums["discomfort_kh"], peak_kw=peak_kw,
        outside_band_share=sums["outside_band_h"] / max(sums["occupied_h"], 1e-9),
        dr_excess_kwh=sums["dr_excess_kwh"],
        compute_time_ratio=ctrl_s / max(steps * env.substeps * env.dt_s, 1e-9), days=days,
        dr_event_h=sums["dr_event_h"],
        dr_within_limit_share=(sums["dr_within_h"] / sums["dr_event_h"]
                               if sums["dr_event_h"] > 0 else 1.0),
        dr_event_kwh_per_m2=sums["dr_event_kwh"] / area,
    )
    arr = np.array(rows, dtype=float)
    trace = Trace(hours=arr[:, 0] / env.sc.steps_per_hour, temp_c=arr[:, 1], setpoint_c=arr[:, 2],
                  outdoor_c=arr[:, 3], ci_g_per_kwh=arr[:, 4], power_kw=arr[:, 5], soc=arr[:, 6],
                  dr_event=arr[:, 7])
    return kpis, trace
