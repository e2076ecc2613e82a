"""RUL metrics: RMSE, MAE and the PHM08 asymmetric score, capped and uncapped, over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import DataError


def _errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    if pred.shape != true.shape or pred.ndim != 1 or len(pred) == 0:
        raise DataError(f"predictions {pred.shape} and targets {true.shape} must be equal 1-D")
    return pred - true


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error [cycles]."""
    return float(np.sqrt(np.mean(_errors(pred, true) ** 2)))


def rmse_metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """RMSE with the (y_true, y_pred) argument order that core.gates metric functions use."""
    return rmse(y_pred, y_true)


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error [cycles]."""
    return float(np.mean(np.abs(_errors(pred, true))))


def phm08_score(pred: np.ndarray, true: np.ndarray) -> float:
    """PHM08 challenge score (Saxena et al. 2008): sum of exp(-d/13)-1 for early, exp(d/10)-1 late.

    ``d = pred - true``; late predictions (d > 0) cost more. Lower is better; it is a sum, so it
    grows with the number of units (100 test units in FD001/FD003).
    """
    d = _errors(pred, true)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


@dataclass(frozen=True)
class RulMetrics:
    """Metrics of one model on one evaluation set [cycles; score unitless]."""

    rmse_capped: float
    mae_capped: float
    phm08_capped: float
    rmse_uncapped: float
    mae_uncapped: float
    phm08_uncapped: float
    n_units: int

    @classmethod
    def compute(cls, pred: np.ndarray, true_rul: np.ndarray, cap: float) -> RulMetrics:
        """Capped protocol: the true RUL is capped at ``cap`` too; uncapped: the raw true RUL."""
        true = np.asarray(true_rul, float)
        capped = np.minimum(true, cap)
        return cls(
            rmse(pred, capped), mae(pred, capped), phm08_score(pred, capped),
            rmse(pred, true), mae(pred, true), phm08_score(pred, true), len(true),
        )

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SeedStats:
    """Mean and sample standard deviation of each metric over seeds."""

    mean: dict[str, float]
    std: dict[str, float]
    seeds: tuple[int, ...]

    @classmethod
    def over(cls, runs: list[RulMetrics], seeds: list[int]) -> SeedStats:
        """Aggregate per-seed metrics (std with ddof=1; 0 for a single seed)."""
        if not runs:
            raise DataError("no runs to aggregate")
        keys = [k for k in runs[0].to_dict() if k != "n_units"]
        table = {k: np.array([float(r.to_dict()[k]) for r in runs]) for k in keys}
        ddof = 1 if len(runs) > 1 else 0
        return cls(
            {k: float(v.mean()) for k, v in table.items()},
            {k: float(v.std(ddof=ddof)) for k, v in table.items()},
            tuple(seeds),
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {"mean": self.mean, "std": self.std, "seeds": list(self.seeds)}
