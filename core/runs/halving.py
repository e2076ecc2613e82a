"""Successive halving: spend budget on promising configurations instead of a full grid."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.runs.measurement_io import window_measurement

if TYPE_CHECKING:
    from core.energy import Measurement, Meter
    from core.ledger import Ledger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    """One evaluation: config index, round, budget given, score returned."""

    config_index: int
    round: int
    budget: float
    score: float


@dataclass(frozen=True)
class HalvingResult:
    """Best configuration, every trial, and the budget used vs a full grid at max budget."""

    best_config: dict[str, Any]
    best_score: float
    trials: tuple[Trial, ...]
    budget_used: float
    grid_budget: float  # len(configs) × the largest budget reached: what brute force would spend
    measurement: Measurement | None

    def to_dict(self) -> dict[str, Any]:
        return {"best_config": self.best_config, "best_score": self.best_score,
                "trials": [t.__dict__ for t in self.trials], "budget_used": self.budget_used,
                "grid_budget": self.grid_budget,
                "measurement": self.measurement.to_dict() if self.measurement else None}


def _rounds(configs: Sequence[dict[str, Any]], evaluate: Callable[[dict[str, Any], float], float],
            min_budget: float, max_budget: float, eta: int,
            higher_is_better: bool) -> tuple[int, float, list[Trial], float]:
    alive = list(range(len(configs)))
    budget, trials, rnd, used = min_budget, [], 0, 0.0
    last: dict[int, float] = {}
    while True:
        for i in alive:
            score = float(evaluate(configs[i], budget))
            if math.isnan(score):  # a diverged trial ranks last, it does not crash the search
                score = -math.inf if higher_is_better else math.inf
            last[i] = score
            trials.append(Trial(i, rnd, budget, score))
            used += budget
        alive.sort(key=lambda i: last[i], reverse=higher_is_better)
        if len(alive) == 1 or budget >= max_budget:
            return alive[0], budget, trials, used
        alive = alive[: max(1, len(alive) // eta)]
        budget, rnd = min(budget * eta, max_budget), rnd + 1


def successive_halving(
    configs: Sequence[dict[str, Any]],
    evaluate: Callable[[dict[str, Any], float], float],
    *,
    min_budget: float = 1.0,
    max_budget: float | None = None,
    eta: int = 3,
    higher_is_better: bool = True,
    meter: Meter | None = None,
    ledger: Ledger | None = None,
    carbon: Any = None,
    app: str = "",
    run_id: str = "",
    phase: str = "train",
    pue: float = 1.0,
) -> HalvingResult:
    """Evaluate all configs at ``min_budget``, keep the best 1/``eta``, multiply the budget by
    ``eta``; repeat until one is left or ``max_budget`` is reached (default: enough rounds to get
    to one survivor). ``evaluate(config, budget)`` returns a score (budget = epochs, trees,
    samples … as the caller defines). The search runs in one meter window; with a ledger it is
    booked as a footprint (``phase``) of ``app``/``run_id``.
    """
    if not configs:
        raise ConfigError("successive_halving needs at least one configuration")
    if eta < 2 or min_budget <= 0:
        raise ConfigError("eta must be >= 2 and min_budget > 0")
    if ledger is not None and (meter is None or carbon is None or not app):
        raise ConfigError("booking the search in the ledger needs meter, carbon and app")
    top = max_budget or min_budget * eta ** max(0, math.ceil(math.log(len(configs), eta)))
    args = (configs, evaluate, min_budget, top, eta, higher_is_better)
    if meter is None:
        best, last_budget, trials, used = _rounds(*args)
        measurement = None
    else:
        with meter.window("successive_halving", unit="trial") as w:
            best, last_budget, trials, used = _rounds(*args)
            w.count += len(trials)
        measurement = window_measurement(w)
        if ledger is not None:
            ledger.record_footprint(app=app, run_id=run_id, phase=phase, measurement=measurement,
                                    intensity=carbon.intensity(at=None), pue=pue,
                                    notes=f"successive halving: {len(trials)} trials, budget "
                                          f"{used:g} vs grid {len(configs) * last_budget:g}")
    score = next(t.score for t in reversed(trials) if t.config_index == best)
    return HalvingResult(dict(configs[best]), score, tuple(trials), used,
                         len(configs) * last_budget, measurement)
