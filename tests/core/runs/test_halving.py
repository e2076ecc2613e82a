"""Successive halving on a real (tiny) model search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

from core.energy import Meter
from core.errors import ConfigError
from core.runs import successive_halving


def test_halving_finds_good_ridge_alpha_with_less_budget():
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xva, ytr, yva = train_test_split(X, y, random_state=0)
    configs = [{"alpha": a} for a in (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0, 1e4, 1e5)]

    def evaluate(cfg, budget):  # budget = training rows / 50
        n = int(min(len(Xtr), 50 * budget))
        return Ridge(alpha=cfg["alpha"]).fit(Xtr[:n], ytr[:n]).score(Xva, yva)

    res = successive_halving(configs, evaluate, min_budget=1, eta=3, meter=Meter())
    full = {c["alpha"]: evaluate(c, 1e9) for c in configs}
    assert full[res.best_config["alpha"]] >= max(full.values()) - 0.05
    assert res.budget_used < res.grid_budget
    assert [t.round for t in res.trials].count(0) == 9
    assert res.measurement is not None and res.measurement.count == len(res.trials)


def test_nan_scores_rank_last_and_errors():
    res = successive_halving([{"x": 1}, {"x": 2}],
                             lambda c, b: np.nan if c["x"] == 1 else 0.5, min_budget=1, eta=2)
    assert res.best_config == {"x": 2}
    with pytest.raises(ConfigError):
        successive_halving([], lambda c, b: 0.0)
