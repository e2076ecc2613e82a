"""Split-conformal prediction intervals for RUL, calibrated on held-out engines.

Errors grow with the predicted RUL (a healthy engine's remaining life is hard to tell; a worn one's
is not), so residuals are grouped by predicted-RUL bin (Mondrian conformal): each bin has its own
quantiles. The same residuals give P(true RUL <= h | prediction), which drives the alarms.

Which residuals: a test engine is scored once, at the last cycle of a trajectory cut short at a
random point, so calibration must look like that — not like every row of a run-to-failure
trajectory, whose many early rows (true RUL capped, prediction at the cap) have near-zero
residuals and make the top bin's quantiles too narrow. :func:`truncation_cuts` picks, for each
held-out engine, the same number of cut points (engines weigh equally), spread evenly over the
cycles a test engine can end at (see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.maintenance.features import WINDOW
from core.errors import DataError

DEFAULT_EDGES = (30.0, 60.0, 90.0)  # cycles; bins [0,30), [30,60), [60,90), [90,∞)
MIN_PER_BIN = 30  # a bin with fewer residuals borrows all residuals (wider, still valid)
CUTS_PER_ENGINE = 20  # test-like cut points per calibration engine (equal weight per engine)
MIN_HISTORY_CYCLES = WINDOW  # a cut leaves at least one full feature window of history [cycles]


def truncation_cuts(units: np.ndarray, cycles: np.ndarray, cuts_per_engine: int = CUTS_PER_ENGINE,
                   min_history_cycles: int = MIN_HISTORY_CYCLES) -> np.ndarray:
    """Boolean mask of the rows of run-to-failure engines where a test engine could end.

    NASA's readme says only that a test trajectory "ends some time prior to system failure", so
    the cut is uniform over the engine's life, strictly before its last (failure) cycle T, and
    after ``min_history_cycles`` [cycles] of history (the features' full window; every engine of
    NASA's FD001/FD003 test files has more than 30 cycles — an input, not a label). For each
    engine, ``cuts_per_engine`` cycles evenly spaced over [min_history, T − 1] (stratified
    uniform, deterministic; fewer if the range is shorter). Rows must be whole trajectories:
    T is the unit's largest cycle among ``cycles``. An engine shorter than the window keeps its
    cuts over [1, T − 1].
    """
    units, cycles = np.asarray(units), np.asarray(cycles)
    if units.shape != cycles.shape:
        raise DataError("units and cycles must have the same length")
    if cuts_per_engine < 1 or min_history_cycles < 1:
        raise DataError("cuts_per_engine and min_history_cycles must be >= 1")
    mask = np.zeros(len(units), bool)
    for unit in np.unique(units):
        idx = np.flatnonzero(units == unit)
        last = int(cycles[idx].max())
        start = min_history_cycles if last - 1 >= min_history_cycles else 1
        wanted = np.round(np.linspace(start, max(start, last - 1), cuts_per_engine)).astype(int)
        mask[idx[np.isin(cycles[idx], wanted)]] = True
    return mask


@dataclass(frozen=True)
class ConformalRul:
    """Signed residuals (true − predicted RUL [cycles]) of held-out engines, per predicted bin."""

    edges: tuple[float, ...]
    residuals: tuple[tuple[float, ...], ...]  # sorted, one tuple per bin
    n_units: int

    @classmethod
    def calibrate(
        cls, pred: np.ndarray, true: np.ndarray, units: np.ndarray,
        edges: tuple[float, ...] = DEFAULT_EDGES,
    ) -> ConformalRul:
        """Calibrate on predictions ``pred`` for rows of held-out ``units`` with truth ``true``."""
        pred, true = np.asarray(pred, float), np.asarray(true, float)
        if pred.shape != true.shape or len(pred) < MIN_PER_BIN:
            raise DataError(f"need >= {MIN_PER_BIN} calibration rows with matching truth")
        res = true - pred
        bins = np.digitize(pred, edges)
        per_bin = []
        for b in range(len(edges) + 1):
            chosen = res[bins == b]
            per_bin.append(tuple(np.sort(chosen if len(chosen) >= MIN_PER_BIN else res)))
        return cls(tuple(edges), tuple(per_bin), int(len(np.unique(units))))

    def _bin(self, pred: np.ndarray) -> np.ndarray:
        return np.digitize(np.asarray(pred, float), self.edges)

    def interval(self, pred: np.ndarray, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) [cycles] covering the true RUL with probability ≥ 1−alpha (marginally)."""
        if not 0.0 < alpha < 1.0:
            raise DataError("alpha must be in (0, 1)")
        pred = np.asarray(pred, float)
        low, high = np.empty_like(pred), np.empty_like(pred)
        for b, res in enumerate(self.residuals):
            mask = self._bin(pred) == b
            arr = np.asarray(res)
            n = len(arr)
            # Finite-sample conformal levels: ceil((n+1)(1-a/2))/n, clipped to the sample range.
            k_hi = min(n - 1, int(np.ceil((n + 1) * (1 - alpha / 2))) - 1)
            k_lo = max(0, int(np.floor((n + 1) * (alpha / 2))) - 1)
            low[mask] = pred[mask] + arr[k_lo]
            high[mask] = pred[mask] + arr[k_hi]
        return np.maximum(low, 0.0), high

    def prob_rul_at_most(self, pred: np.ndarray, horizon: float) -> np.ndarray:
        """P(true RUL <= horizon | pred) from the bin's empirical residual distribution."""
        pred = np.asarray(pred, float)
        out = np.empty_like(pred)
        bins = self._bin(pred)
        for b, res in enumerate(self.residuals):
            mask = bins == b
            arr = np.asarray(res)
            out[mask] = np.searchsorted(arr, horizon - pred[mask], side="right") / len(arr)
        return out

    def coverage(self, pred: np.ndarray, true: np.ndarray, alpha: float = 0.1) -> float:
        """Fraction of ``true`` inside the intervals."""
        low, high = self.interval(pred, alpha)
        true = np.asarray(true, float)
        return float(np.mean((true >= low) & (true <= high)))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (residuals kept so a served model can rebuild intervals)."""
        return {"edges": list(self.edges), "residuals": [list(r) for r in self.residuals],
                "n_units": self.n_units}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ConformalRul:
        """Inverse of :meth:`to_dict`."""
        edges = tuple(float(e) for e in data["edges"])  # type: ignore[attr-defined]
        res = tuple(tuple(float(v) for v in r) for r in data["residuals"])  # type: ignore[attr-defined]
        return cls(edges, res, int(data["n_units"]))  # type: ignore[call-overload]
