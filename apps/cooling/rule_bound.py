"""An in-sample bound over setpoint rules without storage: a richer family of office schedules
than the tuned ones, each pair searched on its own season (so the "best" rule has seen the very
weather and grid it is scored on). A bound for reports, never a served policy.

The family (degC of zone air, hours): hold ``edge_c`` when occupied and from ``start_h`` hours
before occupancy, ``setback_c`` otherwise; optionally pre-cool to ``precool_c`` in the
``precool_hours`` before occupancy (and, with ``occupied_precool``, in occupied hours) when the
hour's grid intensity ranks at most ``ci_quantile`` of the next 24 h (1.0: always).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from apps.cooling.baselines import NaiveController, _rank, _SetpointController
from apps.cooling.env import SEASON_FIRST_DAY, CoolingEnv
from apps.cooling.kpis import Kpis, rollout
from apps.cooling.safety import ENVELOPES
from apps.cooling.scenario import ScenarioSpec

DISCOMFORT_ALLOWANCE_KH = 0.5  # over the naive schedule's, as the tuned rules are judged


@dataclass(frozen=True)
class ScheduleParams:
    edge_c: float = 26.0
    setback_c: float = 28.0
    start_h: int = 1
    precool_c: float | None = None  # None: no pre-cooling
    precool_hours: int = 0
    ci_quantile: float = 1.0
    occupied_precool: bool = False


class ScheduleRule(_SetpointController):
    """The rule family of the module doc (office)."""

    name = "schedule_rule"

    def __init__(self, params: ScheduleParams) -> None:
        super().__init__(ENVELOPES["office"])
        self.p = params

    def setpoint(self, state: dict[str, Any]) -> float:
        p, occ = self.p, state["occupied"]
        soon = state["occupied_within_h"]
        clean = p.precool_c is not None and _rank(state["ci_now"], state["ci_24h"]) <= p.ci_quantile
        if clean and ((occ and p.occupied_precool) or (not occ and any(soon[:p.precool_hours]))):
            return float(p.precool_c)  # type: ignore[arg-type]
        if occ or any(soon[:p.start_h]):
            return p.edge_c
        return p.setback_c


def schedule_grid() -> list[ScheduleParams]:
    """The candidates: 2 setbacks x 2 start times x (no pre-cooling + 5 depths x 2 quantiles x
    occupied pre-cooling on/off) = 84 rules."""
    out = []
    for setback, start in itertools.product((28.0, 30.0), (1, 2)):
        out.append(ScheduleParams(setback_c=setback, start_h=start))
        for (depth, hours), q, occ in itertools.product(
                ((25.0, 2), (24.0, 2), (24.0, 4), (23.0, 4), (22.0, 4)), (0.33, 1.0), (False, True)):
            out.append(ScheduleParams(setback_c=setback, start_h=start, precool_c=depth,
                                      precool_hours=hours, ci_quantile=q, occupied_precool=occ))
    return out


@dataclass(frozen=True)
class RuleBound:
    """The best rule on one pair and the naive schedule there (simulated, in-sample)."""

    pair: str
    params: ScheduleParams
    kpis: Kpis
    naive: Kpis
    candidates: int

    @property
    def co2_vs_naive_pct(self) -> float:
        return 100.0 * (self.kpis.co2_kg_per_m2 / self.naive.co2_kg_per_m2 - 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"pair": self.pair, "params": asdict(self.params), "candidates": self.candidates,
                "co2_kg_per_m2": self.kpis.co2_kg_per_m2,
                "naive_co2_kg_per_m2": self.naive.co2_kg_per_m2,
                "co2_vs_naive_pct": self.co2_vs_naive_pct,
                "discomfort_kh": self.kpis.discomfort_kh,
                "naive_discomfort_kh": self.naive.discomfort_kh}


def rule_bound(spec: ScenarioSpec, start_day: int = SEASON_FIRST_DAY, days: int | None = None,
               candidates: list[ScheduleParams] | None = None) -> RuleBound:
    """The least-CO2 rule of ``candidates`` (default :func:`schedule_grid`) on ``spec`` at no
    more discomfort than naive + 0.5 K h, without a tank."""
    if spec.building != "office":
        raise ValueError("the schedule-rule bound is for the office; pass an office scenario")
    env = CoolingEnv((spec,), random_start=False)
    naive, _ = rollout(env, NaiveController(env.envelope), start_day=start_day, days=days)
    cands = candidates or schedule_grid()
    best: tuple[ScheduleParams, Kpis] | None = None
    for p in cands:
        k, _ = rollout(env, ScheduleRule(p), start_day=start_day, days=days)
        if k.discomfort_kh > naive.discomfort_kh + DISCOMFORT_ALLOWANCE_KH:
            continue
        if best is None or k.co2_kg_per_m2 < best[1].co2_kg_per_m2:
            best = (p, k)
    if best is None:
        raise RuntimeError(f"no schedule rule keeps discomfort near naive on {spec.label}")
    return RuleBound(spec.label, best[0], best[1], naive, len(cands))


def mean_pct(rows: list[RuleBound]) -> float:
    """CO2 vs naive of the pairs' mean (ratio of means, as the evaluation's targets are)."""
    return 100.0 * (float(np.mean([r.kpis.co2_kg_per_m2 for r in rows]))
                    / float(np.mean([r.naive.co2_kg_per_m2 for r in rows])) - 1.0)
