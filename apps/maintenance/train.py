"""Training and compression steps of the pipeline: per seed, fit → save → score on the test set.

Each step is a pure function of (data, config, artifacts folder) returning JSON-able outputs, so
``core.runs`` can meter it, cache its artifacts and reuse it when nothing changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apps.maintenance.config import PipelineConfig
from apps.maintenance.data import CmapssData
from apps.maintenance.features import EngineSplit, rul_target, split_engines
from apps.maintenance.metrics import RulMetrics
from apps.maintenance.model import RulPipeline, clip_rul, fit_reference
from apps.progress import Progress
from core.errors import ModelError

logger = logging.getLogger(__name__)


@contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl) and torch intra-op threads, restoring them after."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)


@dataclass
class SeedBundle:
    """What one seed trained: preprocessing, reference model, engine split."""

    seed: int
    pipeline: RulPipeline
    reference: Any
    split: EngineSplit


def train_units(data: CmapssData, cfg: PipelineConfig) -> np.ndarray:
    """Training unit ids, optionally the first ``max_train_units`` (tests)."""
    units = np.unique(data.train["unit"].to_numpy())
    return units[: cfg.max_train_units] if cfg.max_train_units else units


def fit_rows(data: CmapssData, split: EngineSplit) -> pd.DataFrame:
    """Training rows of the split's fit engines."""
    return data.train[data.train["unit"].isin(split.fit_units)]


def fit_seed(data: CmapssData, cfg: PipelineConfig, seed: int) -> tuple[SeedBundle, np.ndarray]:
    """Split engines, fit normaliser and reference on fit engines; also return fit features."""
    split = split_engines(train_units(data, cfg), cfg.holdout_fraction, seed)
    rows = fit_rows(data, split)
    pipe = RulPipeline.fit(rows, data.subset.n_conditions, seed=seed)
    X = pipe.features(rows).to_numpy()
    ref = fit_reference(X, rul_target(rows, cfg.rul_cap), seed, **cfg.reference_overrides)
    return SeedBundle(seed, pipe, ref, split), X


def bundle_path(artifacts: Path, seed: int) -> Path:
    """Where a seed's reference bundle lives."""
    return artifacts / f"seed{seed}-reference.joblib"


def compact_path(artifacts: Path, seed: int) -> Path:
    """Where a seed's compact model (torch state dict + shape) lives."""
    return artifacts / f"seed{seed}-compact.pt"


def load_bundle(path: Path) -> SeedBundle:
    """Load a saved :class:`SeedBundle`; ModelError if missing or unreadable."""
    import joblib

    try:
        return joblib.load(path)  # type: ignore[no-any-return]
    except (OSError, EOFError, ValueError, AttributeError, ModuleNotFoundError) as e:
        raise ModelError(f"cannot load {path}: {e}; rerun `greenstack run maintenance --force`") from e


def test_predictions(bundle: SeedBundle, data: CmapssData, predict: Callable, cap: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(units, predicted RUL) at each test unit's last cycle."""
    units, X = bundle.pipeline.last_window_features(data.test)
    return units, clip_rul(predict(X.to_numpy()), cap)


def train_step(data: CmapssData, cfg: PipelineConfig, artifacts: Path, progress: Progress
               ) -> dict[str, Any]:
    """Fit every seed's reference; save bundles; return per-seed test metrics and predictions."""
    import joblib

    out: dict[str, Any] = {}
    for i, seed in enumerate(cfg.seeds):
        bundle, _ = fit_seed(data, cfg, seed)
        joblib.dump(bundle, bundle_path(artifacts, seed))
        units, pred = test_predictions(bundle, data, bundle.reference.predict, cfg.rul_cap)
        metrics = RulMetrics.compute(pred, data.test_rul, cfg.rul_cap)
        out[str(seed)] = {"metrics": metrics.to_dict(), "pred": pred.tolist(),
                          "units": units.tolist(),
                          "fit_units": bundle.split.fit_units.tolist(),
                          "holdout_units": bundle.split.holdout_units.tolist()}
        logger.info("seed %d reference RMSE %.2f", seed, metrics.rmse_capped)
        if progress:
            progress("train", i + 1, len(cfg.seeds))
    return {"seeds": out}


def load_compact(path: Path) -> Any:
    """Rebuild a saved compact net."""
    import torch

    from apps.maintenance.compact import CompactRulNet

    try:
        saved = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError) as e:
        raise ModelError(f"cannot load {path}: {e}; rerun `greenstack run maintenance --force`") from e
    n = int(saved["n_features"])
    net = CompactRulNet(n, np.zeros(n), np.ones(n), float(saved["scale"]))
    net.load_state_dict(saved["state"])
    return net.eval()


def compress_step(data: CmapssData, cfg: PipelineConfig, train_dir: Path, artifacts: Path,
                  progress: Progress) -> dict[str, Any]:
    """Distil each seed's reference into a compact MLP; save it; return test metrics."""
    import torch

    from apps.maintenance.compact import distill_compact

    out: dict[str, Any] = {}
    for i, seed in enumerate(cfg.seeds):
        bundle = load_bundle(bundle_path(train_dir, seed))
        rows = fit_rows(data, bundle.split)
        X = bundle.pipeline.features(rows).to_numpy()
        hold = data.train[data.train["unit"].isin(bundle.split.holdout_units)]
        validation = (bundle.pipeline.features(hold).to_numpy(), rul_target(hold, cfg.rul_cap))
        result = distill_compact(bundle.reference, X, rul_target(rows, cfg.rul_cap),
                                 bundle.reference.predict(X), seed, cfg.rul_cap,
                                 epochs=cfg.compact_epochs, validation=validation)
        net = result.model
        torch.save({"state": net.state_dict(), "n_features": X.shape[1], "scale": cfg.rul_cap},
                   compact_path(artifacts, seed))
        _, pred = test_predictions(bundle, data, net.predict, cfg.rul_cap)
        metrics = RulMetrics.compute(pred, data.test_rul, cfg.rul_cap)
        out[str(seed)] = {"metrics": metrics.to_dict(), "pred": pred.tolist(),
                          "compression": result.to_dict()}
        logger.info("seed %d compact RMSE %.2f", seed, metrics.rmse_capped)
        if progress:
            progress("compress", i + 1, len(cfg.seeds))
    return {"seeds": out}
