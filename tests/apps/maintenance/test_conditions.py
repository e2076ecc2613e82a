"""Per-condition normalisation on a synthetic six-condition frame (FD002/FD004 are not shipped)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.maintenance.conditions import ConditionNormalizer
from apps.maintenance.data import COLUMNS, SENSOR_COLS
from core.errors import DataError

# The six FD002/FD004 operating points (altitude kft, Mach, TRA).
CONDITIONS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60],
                       [35, 0.84, 100], [42, 0.84, 100]], dtype=float)


def synthetic(n_units: int = 6, cycles: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows cycling through six conditions; sensor level = condition offset + wear + noise."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for unit in range(1, n_units + 1):
        for cycle in range(1, cycles + 1):
            k = int(rng.integers(0, 6))
            settings = CONDITIONS[k] + rng.normal(0, [0.002, 0.0003, 0.0], 3)
            sensors = 100.0 * (k + 1) + 0.05 * cycle + rng.normal(0, 1.0, len(SENSOR_COLS))
            rows.append([unit, cycle, *settings, *sensors])
            labels.append(k)
    return pd.DataFrame(rows, columns=list(COLUMNS)), np.array(labels)


def test_six_conditions_are_found_and_sensors_normalised_per_condition() -> None:
    frame, truth = synthetic()
    norm = ConditionNormalizer(n_conditions=6, seed=0).fit(frame)
    found = norm.condition(frame)
    # Clusters match the true conditions up to relabelling: a one-to-one mapping.
    pairs = set(zip(truth.tolist(), found.tolist(), strict=True))
    assert len(pairs) == 6
    z = norm.transform(frame)
    for k in range(6):
        block = z.loc[found == k, list(norm.sensors_)].to_numpy()
        assert np.abs(block.mean(axis=0)).max() < 1e-6
        assert np.allclose(block.std(axis=0), 1.0)
    # Raw levels differ by 100s between conditions; normalised ones do not.
    assert z[list(norm.sensors_)].abs().to_numpy().max() < 10


def test_one_condition_model_on_six_conditions_would_mix_levels() -> None:
    frame, _ = synthetic()
    single = ConditionNormalizer(n_conditions=1).fit(frame)
    per = ConditionNormalizer(n_conditions=6).fit(frame)
    spread_single = single.transform(frame)["s1"].std()
    spread_per = per.transform(frame)["s1"].std()
    assert spread_single == pytest.approx(1.0, rel=0.01) and spread_per == pytest.approx(1.0, rel=0.01)
    # Within a condition, the single-condition z-scores are squeezed (levels dominate).
    labels = per.condition(frame)
    assert single.transform(frame)["s1"][labels == 0].std() < 0.1


def test_unknown_condition_is_rejected() -> None:
    frame, _ = synthetic()
    norm = ConditionNormalizer(n_conditions=6).fit(frame)
    odd = frame.head(3).copy()
    odd.loc[odd.index[1], ["setting_1", "setting_2", "setting_3"]] = [5.0, 0.1, 80.0]
    with pytest.raises(DataError, match="unknown operating condition in row 1"):
        norm.transform(odd)


def test_constant_sensors_are_dropped_on_real_fd001(fd001) -> None:
    norm = ConditionNormalizer(n_conditions=1).fit(fd001.train)
    assert "s1" not in norm.sensors_ and "s6" not in norm.sensors_ and "s16" not in norm.sensors_
    assert {"s2", "s3", "s4", "s7", "s11", "s12", "s15", "s21"} <= set(norm.sensors_)
    assert len(norm.sensors_) == 14


def test_unfitted_normaliser_says_what_to_do(fd001) -> None:
    with pytest.raises(DataError, match="fit"):
        ConditionNormalizer().transform(fd001.test)
