"""RUL target, engine-wise split (no leakage) and causal window features."""

from __future__ import annotations

import numpy as np
import pytest

from apps.maintenance.features import last_rows, rul_target, split_engines, window_features
from apps.maintenance.model import RulPipeline
from core.errors import DataError


def test_rul_target_is_piecewise_linear_with_cap(fd001) -> None:
    unit1 = fd001.train[fd001.train["unit"] == 1]  # unit 1 fails at cycle 192
    capped, raw = rul_target(unit1, cap=125), rul_target(unit1, cap=None)
    assert raw[0] == 191 and raw[-1] == 0
    assert capped.max() == 125 and capped[-1] == 0
    assert np.array_equal(capped[-125:], raw[-125:])


def test_split_is_by_engine_without_leakage(fd001) -> None:
    units = fd001.train["unit"].to_numpy()
    split = split_engines(units, 0.2, seed=3)
    assert not set(split.fit_units) & set(split.holdout_units)
    assert set(split.fit_units) | set(split.holdout_units) == set(np.unique(units))
    assert len(split.holdout_units) == 20
    fit_rows = fd001.train[fd001.train["unit"].isin(split.fit_units)]
    hold_rows = fd001.train[fd001.train["unit"].isin(split.holdout_units)]
    assert len(fit_rows) + len(hold_rows) == len(fd001.train)
    assert not set(fit_rows["unit"]) & set(hold_rows["unit"])
    # Same seed, same split; another seed, another split.
    assert np.array_equal(split_engines(units, 0.2, 3).holdout_units, split.holdout_units)
    assert not np.array_equal(split_engines(units, 0.2, 4).holdout_units, split.holdout_units)


def test_split_rejects_impossible_fractions() -> None:
    with pytest.raises(DataError):
        split_engines(np.arange(5), 1.0, 0)
    with pytest.raises(DataError):
        split_engines(np.array([1, 1, 1]), 0.5, 0)


def test_features_are_causal(fd001) -> None:
    """Features at cycle t do not change when later cycles are removed (no look-ahead)."""
    train = fd001.train[fd001.train["unit"] <= 20]
    pipe = RulPipeline.fit(train, n_conditions=1)
    unit = fd001.train[fd001.train["unit"] == 7]
    full = pipe.features(unit).to_numpy()
    cut = pipe.features(unit.head(50)).to_numpy()
    assert np.allclose(full[:50], cut)
    assert pipe.features(unit).shape[1] == len(pipe.columns)


def test_features_of_units_are_independent(fd001) -> None:
    train = fd001.train[fd001.train["unit"] <= 20]
    pipe = RulPipeline.fit(train, n_conditions=1)
    both = fd001.test[fd001.test["unit"].isin([1, 2])]
    alone = fd001.test[fd001.test["unit"] == 2]
    f_both = pipe.features(both).to_numpy()[both["unit"].to_numpy() == 2]
    assert np.allclose(f_both, pipe.features(alone).to_numpy())


def test_last_rows_and_too_few_cycles(fd001) -> None:
    mask = last_rows(fd001.test)
    assert mask.sum() == 100
    pipe = RulPipeline.fit(fd001.train[fd001.train["unit"] <= 20], n_conditions=1)
    short = fd001.test[(fd001.test["unit"] == 1) & (fd001.test["cycle"] <= 3)]
    with pytest.raises(DataError, match="at least 5 are needed"):
        pipe.last_window_features(short)
    with pytest.raises(DataError):
        window_features(short.iloc[0:0], pipe.normalizer.sensors_)


def test_window_features_match_naive_formulas(fd001) -> None:
    """Vectorised features equal direct per-row formulas (polyfit slope, ddof=1 std, EWMA)."""
    from apps.maintenance.features import BASELINE_CYCLES, EWMA_ALPHAS, SHORT_WINDOW, WINDOW

    pipe = RulPipeline.fit(fd001.train[fd001.train["unit"] <= 20], n_conditions=1)
    norm = pipe.normalizer.transform(fd001.test[fd001.test["unit"].isin([3, 1])])
    sensor = pipe.normalizer.sensors_[0]
    feats = window_features(norm, pipe.normalizer.sensors_)
    unit = norm[norm["unit"] == 3]
    x, t = unit[sensor].to_numpy(), unit["cycle"].to_numpy(float)
    for i in (0, 1, 12, 40, len(x) - 1):
        row = feats.loc[unit.index[i]]
        win, short = slice(max(0, i + 1 - WINDOW), i + 1), slice(max(0, i + 1 - SHORT_WINDOW), i + 1)
        assert row[f"{sensor}_mean"] == pytest.approx(x[win].mean())
        assert row[f"{sensor}_std"] == pytest.approx(x[win].std(ddof=1) if i else 0.0, abs=1e-9)
        if i >= 1:
            assert row[f"{sensor}_slope"] == pytest.approx(np.polyfit(t[win], x[win], 1)[0])
            assert row[f"{sensor}_slope10"] == pytest.approx(np.polyfit(t[short], x[short], 1)[0])
        a = EWMA_ALPHAS[0]
        w = (1 - a) ** np.arange(i, -1, -1)
        ewm = float(np.sum(w * x[: i + 1]) / w.sum())
        assert row[f"{sensor}_ewm{a:g}"] == pytest.approx(ewm)
        base = x[: min(i + 1, BASELINE_CYCLES)].mean()
        assert row[f"{sensor}_drift"] == pytest.approx(ewm - base)
        assert row["cycle"] == t[i]
