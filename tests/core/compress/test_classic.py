"""Fewer/shallower trees and distillation into a small model, on a small real regression task."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier

from core.compress import compress_trees, distill_to_small_model
from core.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)  # ships with scikit-learn, 442 rows
    return X, y


def test_truncating_boosting_equals_staged_prediction(diabetes):
    X, y = diabetes
    gbm = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0).fit(X, y)
    res = compress_trees(gbm, n_estimators=20)
    staged = list(gbm.staged_predict(X))[19]
    np.testing.assert_allclose(res.model.predict(X), staged)
    assert res.report["trees_before"] == 60 and res.report["trees_after"] == 20
    assert res.size_bytes_after < 0.5 * res.size_bytes_before
    assert gbm.predict(X).shape == (len(X),)  # reference still works, untouched
    assert len(gbm.estimators_) == 60


def test_hist_gradient_boosting_refit_needs_data(diabetes):
    X, y = diabetes
    labels = (y > np.median(y)).astype(int)
    hgb = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, labels)
    with pytest.raises(DataError, match="pass X, y"):
        compress_trees(hgb, n_estimators=10)
    res = compress_trees(hgb, n_estimators=10, max_depth=3, X=X, y=labels)
    assert res.report["trees_after"] == 10
    assert res.model.score(X, labels) > 0.7
    with pytest.raises(ConfigError):
        compress_trees(hgb)


def test_distill_to_small_tree_tracks_teacher(diabetes):
    X, y = diabetes
    gbm = GradientBoostingRegressor(n_estimators=100, random_state=0).fit(X, y)
    rng = np.random.default_rng(0)
    transfer = np.vstack([X, X + rng.normal(0, 0.01, X.shape)])  # unlabeled transfer rows
    res = distill_to_small_model(gbm, transfer)
    assert res.report["r2_to_teacher"] > 0.7
    assert res.size_bytes_after < res.size_bytes_before
    with pytest.raises(DataError):
        distill_to_small_model(gbm, X[:, 0])
