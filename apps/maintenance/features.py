"""Targets, engine-wise splits and causal windowed features for C-MAPSS.

Every feature at cycle t uses cycles <= t of the same unit only (rolling windows and EWMAs run
forward in time), so a training row never sees its own future and a served prediction is computed
exactly like a training row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError

DEFAULT_RUL_CAP = 125  # cycles; piecewise-linear target (Heimes 2008, used by most C-MAPSS papers)
WINDOW = 30  # cycles of recent history for the window statistics
SHORT_WINDOW = 10  # cycles, for the recent slope
EWMA_ALPHAS = (0.1, 0.02)  # fast and slow exponential averages over the whole history
BASELINE_CYCLES = 15  # first cycles of a unit, its "as installed" level (units start worn)
MIN_CYCLES = 5  # fewer cycles than this give no usable slope: rejected at serving time


@dataclass(frozen=True)
class EngineSplit:
    """Unit ids of a split by engine (never by row)."""

    fit_units: np.ndarray
    holdout_units: np.ndarray


def rul_target(frame: pd.DataFrame, cap: float | None = DEFAULT_RUL_CAP) -> np.ndarray:
    """Run-to-failure rows → RUL [cycles] = last cycle − cycle, capped at ``cap`` (None: uncapped)."""
    last = frame.groupby("unit")["cycle"].transform("max").to_numpy()
    rul = (last - frame["cycle"].to_numpy()).astype(float)
    return rul if cap is None else np.minimum(rul, float(cap))


def split_engines(units: np.ndarray, holdout_fraction: float, seed: int) -> EngineSplit:
    """Shuffle distinct unit ids with ``seed`` and hold out ``holdout_fraction`` of them."""
    distinct = np.unique(units)
    if not 0.0 < holdout_fraction < 1.0:
        raise DataError("holdout_fraction must be in (0, 1)")
    n_hold = max(1, round(len(distinct) * holdout_fraction))
    if n_hold >= len(distinct):
        raise DataError(f"{len(distinct)} units are too few to hold out {holdout_fraction:.0%}")
    perm = np.random.default_rng(seed).permutation(distinct)
    return EngineSplit(np.sort(perm[n_hold:]), np.sort(perm[:n_hold]))


def _rolling_slope(t: pd.Series, x: pd.DataFrame, groups: pd.Series, window: int) -> pd.DataFrame:
    """Least-squares slope of x over the last ``window`` cycles [z-score per cycle]."""

    def roll(df: pd.DataFrame | pd.Series) -> pd.DataFrame:
        return df.groupby(groups).rolling(window, min_periods=1).mean().reset_index(level=0, drop=True)

    tx = x.mul(t, axis=0)
    mt, mx, mtx = roll(t), roll(x), roll(tx)
    mtt = roll(t * t)
    var_t = (mtt - mt * mt).to_numpy()[:, None]
    cov = mtx.to_numpy() - mt.to_numpy()[:, None] * mx.to_numpy()
    slope = np.divide(cov, var_t, out=np.zeros_like(cov), where=var_t > 1e-9)
    return pd.DataFrame(slope, index=x.index, columns=x.columns)


def window_features(norm: pd.DataFrame, sensors: tuple[str, ...]) -> pd.DataFrame:
    """Per-row causal features from a normalised frame (unit, cycle, sensors…), same row order.

    Per sensor: mean and std over the last ``WINDOW`` cycles, slopes over the last ``WINDOW`` and
    ``SHORT_WINDOW`` cycles, fast/slow EWMAs, and drift of the fast EWMA from the unit's first
    ``BASELINE_CYCLES`` cycles. Plus the cycle count (time in service is known at prediction).
    """
    if norm.empty:
        raise DataError("no rows to build features from")
    x = norm[list(sensors)].astype(float)
    groups = norm["unit"]
    t = norm["cycle"].astype(float)
    by_unit = x.groupby(groups)
    rolled = by_unit.rolling(WINDOW, min_periods=1)
    parts = {
        "mean": rolled.mean().reset_index(level=0, drop=True),
        "std": rolled.std().reset_index(level=0, drop=True).fillna(0.0),
        "slope": _rolling_slope(t, x, groups, WINDOW),
        "slope10": _rolling_slope(t, x, groups, SHORT_WINDOW),
    }
    for alpha in EWMA_ALPHAS:
        parts[f"ewm{alpha:g}"] = by_unit.transform(lambda s, a=alpha: s.ewm(alpha=a).mean())
    # Causal "as installed" level: expanding mean over the first BASELINE_CYCLES, then frozen.
    position = by_unit.cumcount()
    baseline = by_unit.transform(lambda s: s.expanding().mean()).where(position < BASELINE_CYCLES)
    baseline = baseline.groupby(groups).ffill()
    parts["drift"] = parts[f"ewm{EWMA_ALPHAS[0]:g}"] - baseline
    frames = [df.loc[x.index].add_suffix(f"_{name}") for name, df in parts.items()]
    out = pd.concat(frames, axis=1)
    out.insert(0, "cycle", t.to_numpy())
    return out


def last_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of each unit's last row (the official test protocol's single window)."""
    last = frame.groupby("unit")["cycle"].transform("max")
    return (frame["cycle"] == last).to_numpy()
