"""Evaluation: every controller on every held-out scenario, KPI mean and spread over seeds, and
heuristic tuning on the training scenario."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.cooling.baselines import HeuristicController, HeuristicParams, heuristic_grid
from apps.cooling.env import CoolingEnv
from apps.cooling.kpis import Kpis, rollout
from apps.cooling.scenario import ScenarioSpec

TABLE_KEYS = ("energy_kwh_per_m2", "cooling_kwh_per_m2", "co2_kg_per_m2", "co2_marginal_kg_per_m2",
              "cost_per_m2", "discomfort_kh", "peak_kw", "outside_band_share", "compute_time_ratio")


@dataclass(frozen=True)
class ControllerResult:
    """KPIs of one controller: per seed (each averaged over scenarios) and per scenario."""

    name: str
    per_seed: tuple[dict[str, float], ...]
    per_scenario: dict[str, list[dict[str, float]]]

    def summary(self) -> dict[str, dict[str, float]]:
        """{kpi: {"mean": m, "spread": sample std over seeds, "n_seeds": n}}."""
        out: dict[str, dict[str, float]] = {}
        for key in TABLE_KEYS:
            vals = np.array([s[key] for s in self.per_seed], float)
            out[key] = {"mean": float(vals.mean()),
                        "spread": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                        "n_seeds": len(vals)}
        return out

    def means(self) -> dict[str, float]:
        return {k: v["mean"] for k, v in self.summary().items()}


def evaluate_controllers(controllers: dict[str, Sequence[Any]], specs: Sequence[ScenarioSpec],
                         building: str, days: int | None = None) -> dict[str, ControllerResult]:
    """``controllers``: name -> one controller per seed (baselines: a single one)."""
    env = CoolingEnv(tuple(specs), building=building, random_start=False)
    results = {}
    for name, per_seed in controllers.items():
        seed_rows, by_scenario = [], {s.label: [] for s in specs}
        for seed, ctrl in enumerate(per_seed):
            rows = []
            for i, spec in enumerate(specs):
                kpis, _ = rollout(env, ctrl, scenario=i, days=days, seed=seed)
                rows.append(kpis.to_dict())
                by_scenario[spec.label].append(kpis.to_dict())
            seed_rows.append({k: float(np.mean([r[k] for r in rows])) for k in TABLE_KEYS})
        results[name] = ControllerResult(name, tuple(seed_rows), by_scenario)
    return results


def tune_heuristic(spec: ScenarioSpec, building: str, naive_discomfort_kh: float,
                   days: int | None = None) -> tuple[HeuristicParams, Kpis]:
    """Grid-tune the heuristic on the training scenario: least CO2 whose discomfort is at most
    the naive baseline's + 0.5 K h."""
    env = CoolingEnv((spec,), building=building, random_start=False)
    days = days or 61  # June-July: the tuning window (evaluation uses other sites)
    best: tuple[HeuristicParams, Kpis] | None = None
    for params in heuristic_grid(building):
        kpis, _ = rollout(env, HeuristicController(env.envelope, params), days=days)
        if kpis.discomfort_kh > naive_discomfort_kh + 0.5:
            continue
        if best is None or kpis.co2_kg_per_m2 < best[1].co2_kg_per_m2:
            best = (params, kpis)
    if best is None:
        raise RuntimeError("no heuristic setting keeps discomfort near the naive baseline")
    return best


def validation_score(kpis: Kpis) -> float:
    """Lower is better: CO2 per m2 plus a steep price on discomfort (used for model selection)."""
    return kpis.co2_kg_per_m2 + 0.05 * kpis.discomfort_kh


def relative_change(results: dict[str, ControllerResult], name: str, against: str,
                    key: str) -> dict[str, float]:
    """Per-seed relative change of ``key`` of ``name`` vs ``against`` (mean of seeds), percent."""
    ref = results[against].means()[key]
    vals = np.array([100.0 * (s[key] - ref) / ref for s in results[name].per_seed])
    return {"mean_pct": float(vals.mean()), "spread_pct": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}
