"""Test-like calibration: cut points of held-out training engines, never test engines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from apps.maintenance.conformal import ConformalRul, truncation_cuts
from core.errors import DataError


def _engines(lives: list[int]) -> tuple[np.ndarray, np.ndarray]:
    units = np.concatenate([np.full(n, u) for u, n in enumerate(lives, start=1)])
    cycles = np.concatenate([np.arange(1, n + 1) for n in lives])
    return units, cycles


def test_cuts_weigh_engines_equally_and_respect_history_and_failure() -> None:
    units, cycles = _engines([128, 200, 362])
    mask = truncation_cuts(units, cycles, cuts_per_engine=20, min_history_cycles=30)
    for unit, life in zip((1, 2, 3), (128, 200, 362), strict=True):
        picked = cycles[mask & (units == unit)]
        assert len(picked) == 20  # same weight whatever the engine's life
        assert picked.min() == 30 and picked.max() == life - 1  # history kept, before failure
        gaps = np.diff(picked)
        assert gaps.max() - gaps.min() <= 1  # evenly spread over the range


def test_short_engine_falls_back_to_its_whole_life_and_bad_input_is_refused() -> None:
    units, cycles = _engines([12])
    picked = cycles[truncation_cuts(units, cycles, cuts_per_engine=5, min_history_cycles=30)]
    assert picked.min() == 1 and picked.max() == 11
    with pytest.raises(DataError):
        truncation_cuts(units, cycles[:-1])
    with pytest.raises(DataError):
        truncation_cuts(units, cycles, cuts_per_engine=0)


def _synthetic_fleet(n_engines: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of run-to-failure engines: prediction exact while the capped truth sits at the cap
    (early life), noisy (sd 12 cycles) once degradation shows."""
    lives = rng.integers(130, 360, n_engines).tolist()
    units, cycles = _engines(lives)
    life = np.repeat(lives, lives)
    true = np.minimum(life - cycles, 125.0).astype(float)
    noisy = life - cycles <= 140
    pred = np.clip(true + noisy * rng.normal(0, 12, len(true)), 0, 125)
    return units, cycles, pred, true


def test_cut_calibration_covers_truncated_engines_where_all_rows_do_not() -> None:
    rng = np.random.default_rng(3)
    units, cycles, pred, true = _synthetic_fleet(80, rng)
    all_rows = ConformalRul.calibrate(pred, true, units)
    keep = truncation_cuts(units, cycles)
    cuts = ConformalRul.calibrate(pred[keep], true[keep], units[keep])
    # "Test" engines: other engines, each scored once at a random cut after 30 cycles.
    t_units, t_cycles, t_pred, t_true = _synthetic_fleet(400, rng)
    last = np.array([rng.integers(30, c.max()) for c in np.split(t_cycles, np.flatnonzero(
        np.diff(t_units)) + 1)])
    starts = np.r_[0, np.flatnonzero(np.diff(t_units)) + 1]
    idx = starts + last - 1
    assert cuts.coverage(t_pred[idx], t_true[idx]) >= 0.87
    assert all_rows.coverage(t_pred[idx], t_true[idx]) < cuts.coverage(t_pred[idx], t_true[idx])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, fd001):
    """Train + compress artifacts of a small one-seed run (no evaluation)."""
    import torch

    from apps.maintenance.config import PipelineConfig
    from apps.maintenance.train import compress_step, train_step

    torch.set_num_threads(1)
    cfg = PipelineConfig(seeds=(0, 1), max_train_units=30, reference_overrides={"max_iter": 40},
                         compact_epochs=3, bench_repeats=3, ai4i=False)
    train_dir = tmp_path_factory.mktemp("train")
    comp_dir = tmp_path_factory.mktemp("compress")
    train_step(fd001, cfg, train_dir, None)
    compress_step(fd001, cfg, train_dir, comp_dir, None)
    return cfg, train_dir, comp_dir


def test_pooled_calibration_uses_held_out_training_engines_only(small_run, fd001) -> None:
    from apps.maintenance.evaluate import pooled_calibrators
    from apps.maintenance.train import bundle_path, load_bundle

    cfg, train_dir, comp_dir = small_run
    calibs = pooled_calibrators(fd001, cfg, train_dir, comp_dir)
    holdouts = [load_bundle(bundle_path(train_dir, s)).split.holdout_units for s in cfg.seeds]
    assert calibs["compact"].n_units == sum(len(h) for h in holdouts)
    # Leakage check: scrambling the test set (its rows and its true RUL) changes nothing.
    scrambled = dataclasses.replace(
        fd001, test=fd001.test.assign(s2=fd001.test["s2"] * 3.0),
        test_rul=fd001.test_rul[::-1] + 50)
    again = pooled_calibrators(scrambled, cfg, train_dir, comp_dir)
    for kind in ("reference", "compact"):
        assert again[kind].residuals == calibs[kind].residuals
    # Cut points only (20 per held-out engine and seed), not every row of the trajectories.
    n_cuts = sum(20 * len(h) for h in holdouts)
    assert n_cuts // 4 <= max(len(r) for r in calibs["reference"].residuals) <= n_cuts
