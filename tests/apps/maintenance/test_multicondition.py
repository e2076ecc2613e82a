"""The unchanged pipeline on a six-condition subset (FD002/FD004 are not shipped).

Synthetic, labelled as such: real FD001 trajectories with each cycle moved to one of the six
FD002 operating points, sensors shifted and scaled per condition, written under NASA's FD002
file names. Per-condition normalisation must undo the shift; the pipeline must not assume one
condition anywhere (eval-set slices, serving, unknown-condition checks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from apps.maintenance.data import SENSOR_COLS, SETTING_COLS

CONDITIONS = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60],
                       [35, 0.84, 100], [42, 0.84, 100]], dtype=float)


def _to_six_conditions(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    k = rng.integers(0, 6, len(out))
    out[list(SETTING_COLS)] = CONDITIONS[k] + rng.normal(0, [0.002, 0.0003, 0.0], (len(out), 3))
    scale = 1.0 + 0.1 * k[:, None]
    out[list(SENSOR_COLS)] = out[list(SENSOR_COLS)].to_numpy() * scale + 50.0 * k[:, None]
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    lines = [" ".join(f"{v:.6g}" for v in row) + " " for row in frame.to_numpy()]
    path.write_text("\n".join(lines) + "\n")


def test_pipeline_runs_unchanged_on_six_conditions(fd001, ctx, tmp_path: Path) -> None:
    from apps.maintenance.service import MaintenanceService

    rng = np.random.default_rng(0)
    folder = tmp_path / "nasa"
    folder.mkdir()
    train = fd001.train[fd001.train["unit"] <= 40]
    test = fd001.test[fd001.test["unit"] <= 30]
    _write(_to_six_conditions(train, rng), folder / "train_FD002.txt")
    _write(_to_six_conditions(test, rng), folder / "test_FD002.txt")
    (folder / "RUL_FD002.txt").write_text("\n".join(map(str, fd001.test_rul[:30])) + "\n")

    service = MaintenanceService(ctx, subset="FD002", data_dir=folder)
    summary = service.run_pipeline(seeds=(0,), reference_overrides={"max_iter": 60},
                                   compact_epochs=5, bench_repeats=3, ai4i=False)
    d = summary.to_dict()
    # A real model: far better than predicting the mean, despite six raw sensor levels.
    assert d["reference"]["mean"]["rmse_capped"] < 30.0
    slices = {s["slice"] for s in d["gate"]["slices"]}
    assert sum(name.startswith("condition=") for name in slices) >= 5
    batch = service.predict_frame(_to_six_conditions(test[test["unit"] <= 2], rng))
    assert [p.unit for p in batch.predictions] == [1, 2]
