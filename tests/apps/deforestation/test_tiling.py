"""Tiled output equals whole-image output (blending + halo), on a real Sentinel-2 clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from apps.deforestation.model import load, predict_probs
from apps.deforestation.rasters import RasterSource
from apps.deforestation.tiling import predict_tiled, tile_grid
from core.errors import ConfigError

from .conftest import OSCD_1


def _tiled(src: RasterSource, fn, tile_px: int, overlap_px: int) -> np.ndarray:
    return predict_tiled(lambda t: src.read(t.window()).data, fn, *src.shape, tile_px, overlap_px)


def test_local_filter_tiled_equals_whole() -> None:
    src = RasterSource(OSCD_1, "sentinel2_l1c")

    def fn(x: np.ndarray) -> np.ndarray:  # a 9×9 neighbourhood op: radius 4 < overlap/2
        return np.stack([uniform_filter(x[0], 9, mode="constant"), x[1] * 2])

    whole = fn(src.read().data)
    np.testing.assert_array_equal(_tiled(src, fn, 64, 16), whole)
    assert not np.array_equal(_tiled(src, fn, 64, 0), whole)  # no halo → seams (test can fail)


def test_student_tiled_is_close_to_whole(tiny_models: dict[str, Path]) -> None:
    # The student's 1/16 stage sees farther than the halo: near-equal, not identical. Tile
    # windows start on multiples of its stride, so the only difference is the missing context.
    src = RasterSource(OSCD_1, "sentinel2_l1c")
    student = load("student", 3, tiny_models["student"])
    whole = predict_probs(student, src.read().data)
    tiled = _tiled(src, lambda x: predict_probs(student, x), 64, 32)
    assert (tiled.argmax(0) == whole.argmax(0)).mean() > 0.99
    assert np.abs(tiled - whole).mean() < 0.01


def test_teacher_tiled_is_close_to_whole(tiny_models: dict[str, Path]) -> None:
    # ResNet-18's receptive field exceeds any affordable halo: near-equal, not identical.
    src = RasterSource(OSCD_1, "sentinel2_l1c")
    teacher = load("teacher", 3, tiny_models["teacher"])
    whole = predict_probs(teacher, src.read().data)
    tiled = _tiled(src, lambda x: predict_probs(teacher, x), 128, 64)
    assert (tiled.argmax(0) == whole.argmax(0)).mean() > 0.97


def test_grid_covers_image_once_and_rejects_bad_sizes() -> None:
    tiles = tile_grid(200, 130, 64, 16)
    cover = np.zeros((200, 130), int)
    for t in tiles:
        cover[t.core_row:t.core_row + t.core_rows, t.core_col:t.core_col + t.core_cols] += 1
        assert t.read_row >= 0 and t.read_row + t.read_rows <= 200
    assert (cover == 1).all()
    with pytest.raises(ConfigError):
        tile_grid(10, 10, 8, 16)
