"""RUL metrics and conformal intervals."""

from __future__ import annotations

import numpy as np
import pytest

from apps.maintenance.conformal import ConformalRul
from apps.maintenance.metrics import RulMetrics, SeedStats, mae, phm08_score, rmse
from core.errors import DataError


def test_phm08_score_is_asymmetric() -> None:
    true = np.array([50.0, 50.0])
    assert phm08_score(np.array([50.0, 50.0]), true) == 0.0
    late = phm08_score(np.array([60.0]), np.array([50.0]))
    early = phm08_score(np.array([40.0]), np.array([50.0]))
    assert late == pytest.approx(np.e - 1) and early == pytest.approx(np.exp(10 / 13) - 1)
    assert late > early


def test_capped_and_uncapped_metrics() -> None:
    pred, true = np.array([100.0, 20.0]), np.array([140.0, 10.0])
    m = RulMetrics.compute(pred, true, cap=125)
    assert m.rmse_capped == pytest.approx(rmse(pred, np.array([125.0, 10.0])))
    assert m.rmse_uncapped == pytest.approx(np.sqrt((40**2 + 10**2) / 2))
    assert m.mae_capped == pytest.approx(mae(pred, np.array([125.0, 10.0])))
    stats = SeedStats.over([m, m], [0, 1])
    assert stats.std["rmse_capped"] == 0.0 and stats.mean["rmse_capped"] == m.rmse_capped
    with pytest.raises(DataError):
        rmse(np.ones(2), np.ones(3))


def test_conformal_coverage_on_exchangeable_data() -> None:
    rng = np.random.default_rng(0)
    pred = rng.uniform(0, 125, 6000)
    true = pred + rng.normal(0, 1 + pred / 10)  # errors grow with predicted RUL
    calib = ConformalRul.calibrate(pred[:3000], true[:3000], np.arange(3000) // 100)
    cov = calib.coverage(pred[3000:], true[3000:], alpha=0.1)
    assert 0.87 <= cov <= 0.93
    low, high = calib.interval(np.array([10.0, 110.0]), 0.1)
    assert (high - low)[1] > (high - low)[0]  # wider where errors are larger


def test_failure_probability_is_monotone_and_roundtrips() -> None:
    rng = np.random.default_rng(1)
    pred = rng.uniform(0, 125, 500)
    calib = ConformalRul.calibrate(pred, pred + rng.normal(0, 5, 500), np.arange(500) // 50)
    p = calib.prob_rul_at_most(np.array([5.0, 25.0, 35.0, 80.0]), 30)
    assert p[0] >= p[1] >= p[2] >= p[3] and p[0] > 0.9 and p[3] < 0.05
    again = ConformalRul.from_dict(calib.to_dict())
    assert np.allclose(again.prob_rul_at_most(np.array([25.0]), 30), p[1])
    with pytest.raises(DataError):
        ConformalRul.calibrate(pred[:5], pred[:5], np.arange(5))
