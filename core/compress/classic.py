"""Compression of classic (scikit-learn) models: fewer/shallower trees, or a small student."""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from core.compress.result import CompressionResult, model_size_bytes
from core.errors import ConfigError, DataError, ModelError

logger = logging.getLogger(__name__)


def _n_trees(model: Any) -> int | None:
    if hasattr(model, "n_iter_"):
        return int(model.n_iter_)
    if hasattr(model, "estimators_"):
        return len(model.estimators_)
    return None


def _truncate(model: Any, n_estimators: int) -> Any | None:
    """Keep the first ``n_estimators`` stages of a fitted GradientBoosting* or forest; None if n/a."""
    from sklearn.ensemble import (
        BaseEnsemble,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
    )

    small = copy.deepcopy(model)
    if isinstance(model, GradientBoostingClassifier | GradientBoostingRegressor):
        # staged boosting: the first n stages are exactly the model after n iterations
        small.estimators_ = small.estimators_[:n_estimators]
        small.train_score_ = small.train_score_[:n_estimators]
        small.n_estimators = n_estimators
        small.n_estimators_ = n_estimators
        return small
    if isinstance(model, BaseEnsemble) and hasattr(model, "estimators_"):
        small.estimators_ = small.estimators_[:n_estimators]
        small.n_estimators = n_estimators
        return small
    return None


def compress_trees(
    model: Any,
    n_estimators: int | None = None,
    max_depth: int | None = None,
    X: Any = None,
    y: Any = None,
) -> CompressionResult:
    """Fewer and/or shallower trees.

    Fewer trees on a fitted GradientBoosting/forest model: truncation of the fitted stages (no
    data needed). Anything else (HistGradientBoosting, a new ``max_depth``): a refit of a clone
    with the smaller settings, which needs ``X, y``.
    """
    from sklearn.base import clone

    if n_estimators is None and max_depth is None:
        raise ConfigError("compress_trees needs n_estimators and/or max_depth")
    if n_estimators is not None and n_estimators < 1:
        raise ConfigError(f"n_estimators must be >= 1, got {n_estimators}")
    before = _n_trees(model)
    small = _truncate(model, n_estimators) if n_estimators and max_depth is None else None
    how = "truncated fitted stages"
    if small is None:
        if X is None or y is None:
            raise DataError(f"{type(model).__name__} cannot be truncated in place; pass X, y to refit")
        params = model.get_params()
        new: dict[str, Any] = {}
        if n_estimators is not None:
            key = "max_iter" if "max_iter" in params else "n_estimators"
            new[key] = n_estimators
        if max_depth is not None:
            new["max_depth"] = max_depth
        small = clone(model).set_params(**new).fit(X, y)
        how = f"refit with {new}"
    return CompressionResult(
        model=small,
        kind="fewer_trees",
        size_bytes_before=model_size_bytes(model),
        size_bytes_after=model_size_bytes(small),
        report={"trees_before": before, "trees_after": _n_trees(small), "max_depth": max_depth,
                "method": how},
    )


def distill_to_small_model(
    teacher: Any,
    X: Any,
    student: Any = None,
    task: str = "regression",
) -> CompressionResult:
    """Fit ``student`` (default: a depth-6 decision tree) on the teacher's predictions over ``X``.

    ``X`` may be unlabeled transfer data: the teacher labels it. Classification students learn
    the teacher's predicted classes. The report gives fidelity on ``X`` (R² to the teacher for
    regression, agreement rate for classification).
    """
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if task not in ("regression", "classification"):
        raise ConfigError(f"task must be 'regression' or 'classification', got {task!r}")
    X_arr = np.asarray(X)
    if X_arr.ndim != 2 or len(X_arr) == 0:
        raise DataError(f"X must be a non-empty 2-D array, got shape {X_arr.shape}")
    if not hasattr(teacher, "predict"):
        raise ModelError("teacher must have predict(X)")
    soft = np.asarray(teacher.predict(X_arr))
    if student is None:
        tree = DecisionTreeRegressor if task == "regression" else DecisionTreeClassifier
        student = tree(max_depth=6, random_state=0)
    student.fit(X_arr, soft)
    pred = np.asarray(student.predict(X_arr))
    if task == "regression":
        ss_res = float(np.sum((pred - soft) ** 2))
        ss_tot = float(np.sum((soft - soft.mean()) ** 2)) or 1.0
        fidelity = {"r2_to_teacher": 1.0 - ss_res / ss_tot}
    else:
        fidelity = {"agreement_with_teacher": float(np.mean(pred == soft))}
    return CompressionResult(
        model=student,
        kind="distilled_small",
        size_bytes_before=model_size_bytes(teacher),
        size_bytes_after=model_size_bytes(student),
        report={"student": type(student).__name__, "transfer_rows": len(X_arr), **fidelity},
    )
