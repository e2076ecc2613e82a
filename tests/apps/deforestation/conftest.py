"""Fixtures for the deforestation tests: shipped real clips and a tiny trained model pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3] / "data" / "satellite"
OSCD_1 = DATA / "oscd_aguasclaras" / "imgs_1"
OSCD_2 = DATA / "oscd_aguasclaras" / "imgs_2"
IGUACU = DATA / "landsat8_iguacu" / "iguacu_clip.tif"
BERLIN = DATA / "sentinel2_berlin"
FCC23 = DATA / "guadeloupe" / "fcc23.tif"
AGB = DATA / "guadeloupe" / "AGB.tif"
PRODES = next((DATA / "prodes_rondonia").glob("PRODES_*.tif"))


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def write_raster(path: Path, array: np.ndarray, crs: str, transform: object,
                 nodata: float | None = None, **extra: object) -> Path:
    """Write a (bands, rows, cols) array as GeoTIFF (tests only)."""
    import rasterio

    arr = array[None] if array.ndim == 2 else array
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1],
                       count=arr.shape[0], dtype=arr.dtype.name, crs=crs, transform=transform,
                       nodata=nodata, **extra) as dst:
        dst.write(arr)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A teacher trained for one epoch and a student distilled for one (real, tiny runs)."""
    from apps.deforestation.model import save
    from apps.deforestation.simulate import simulate_pairs
    from apps.deforestation.train import (
        TrainConfig,
        distill_student,
        sim_scenes,
        stack_samples,
        teacher_targets,
        train_teacher,
    )

    d = tmp_path_factory.mktemp("models")
    pairs = simulate_pairs(0, 8, 64)
    x, y = stack_samples(pairs)
    cfg = TrainConfig(teacher_epochs=1, student_epochs=1, batch_size=8)
    teacher, _ = train_teacher(x, y, cfg)
    student, _ = distill_student(teacher, teacher_targets(teacher, *sim_scenes(pairs), 64), cfg)
    return {"teacher": save(teacher, d / "teacher.pt"), "student": save(student, d / "student.pt")}
