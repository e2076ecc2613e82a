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

    from .tiny_pair import train_tiny_pair

    d = tmp_path_factory.mktemp("models")
    teacher, student = train_tiny_pair()
    return {"teacher": save(teacher, d / "teacher.pt"), "student": save(student, d / "student.pt")}
