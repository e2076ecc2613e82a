"""Readers on the shipped real rasters: per-band mixed resolution, JP2, multi-band, bad files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from apps.deforestation.bands import Landsat8BGR, Sentinel2L1C, sensor_by_name
from apps.deforestation.rasters import RasterSource
from core.errors import ConfigError, DataError

from .conftest import BERLIN, IGUACU, OSCD_1, write_raster


def test_per_band_files_at_10_20_60_m_resample_onto_the_10m_grid() -> None:
    src = RasterSource(OSCD_1, "sentinel2_l1c", bands=("blue", "rededge1", "coastal"))
    assert src.shape == (256, 256)
    assert abs(src.transform.a) == pytest.approx(9.188e-5, rel=1e-3)  # degrees (10 m band)
    scene = src.read()
    assert scene.data.shape == (3, 256, 256) and scene.crs.to_epsg() == 4326
    # reflectance: DN × 1e-4 (L1C); real values sit in 0–1
    inside = scene.data[:, scene.valid]
    assert 0.02 < float(np.median(inside)) < 0.5


def test_window_read_equals_slice_of_whole_read() -> None:
    src = RasterSource(OSCD_1, "sentinel2_l1c", bands=("blue", "swir1", "coastal"))
    whole = src.read()
    part = src.read(Window(37, 101, 64, 50))
    np.testing.assert_array_equal(part.data, whole.data[:, 101:151, 37:101])
    np.testing.assert_array_equal(part.valid, whole.valid[101:151, 37:101])
    assert part.transform == whole.transform @ Affine.translation(37, 101)


def test_jp2_band_folder_and_landsat_multiband_file() -> None:
    jp2 = RasterSource(BERLIN, "sentinel2_l1c", bands=("blue", "green", "red", "swir1"))
    assert jp2.crs.to_epsg() == 32633 and jp2.shape == (120, 120)
    assert jp2.read().valid.all()
    l8 = RasterSource(IGUACU, Landsat8BGR).read()
    assert l8.crs.to_epsg() == 32621 and l8.data.shape == (3, 256, 256)
    # TOA reflectance = DN × 2e-5 − 0.1: forest-dominated scene is dark in the visible
    assert 0.0 < float(l8.data[2].mean()) < 0.15


def test_nodata_carried_and_scaled(tmp_path: Path) -> None:
    arr = np.full((3, 8, 8), 200, dtype=np.uint8)
    arr[:, :2, :] = 0  # nodata rows
    path = write_raster(tmp_path / "rgb.tif", arr, "EPSG:32618", Affine(30, 0, 0, 0, -30, 0),
                        nodata=0)
    scene = RasterSource(path, "rgb8").read()
    assert not scene.valid[:2].any() and scene.valid[2:].all()
    assert scene.data[:, :2].max() == 0.0
    assert scene.data[0, 5, 5] == pytest.approx(200 / 255)


def test_bad_files_give_data_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(DataError, match="not a raster"):
        RasterSource(text, "landsat8_bgr")
    with pytest.raises(DataError, match="no such file"):
        RasterSource(tmp_path / "missing.tif", "landsat8_bgr")
    empty = tmp_path / "bands"
    empty.mkdir()
    with pytest.raises(DataError, match="no file for band B02"):
        RasterSource(empty, "sentinel2_l1c")
    one_band = write_raster(tmp_path / "one.tif", np.ones((1, 4, 4), np.uint16), "EPSG:4326",
                            Affine(1, 0, 0, 0, -1, 0))
    with pytest.raises(DataError, match="has 1 band"):
        RasterSource(one_band, "sentinel2_l1c")  # a 13-band stack was expected
    with pytest.raises(ConfigError, match="multi-band files hold"):
        RasterSource(one_band, "landsat8_bgr", bands=("nir",))


def test_truncated_file_fails_on_read(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(1, 5000, (3, 256, 256), dtype=np.uint16)
    path = write_raster(tmp_path / "cut.tif", arr, "EPSG:32621", Affine(30, 0, 0, 0, -30, 0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    src = RasterSource(path, Landsat8BGR)  # header survives: opening works
    src.read(Window(0, 0, 256, 16))  # first strips are intact
    with pytest.raises(DataError, match="corrupt or truncated"):
        src.read(Window(0, 200, 256, 56))


def test_band_maps_are_declarative() -> None:
    assert Sentinel2L1C.band("B8A").resolution_m == 20
    assert sensor_by_name("landsat8_bgr").file_index("red") == 3
    with pytest.raises(ConfigError, match="unknown sensor"):
        sensor_by_name("modis")


def test_a_replaced_file_is_read_again_not_served_from_an_open_handle(tmp_path: Path) -> None:
    path = tmp_path / "scene.tif"
    t = Affine(10, 0, 500000, 0, -10, 4000000)
    write_raster(path, np.full((3, 8, 8), 100, np.uint8), "EPSG:32633", t)
    src = RasterSource(path, "rgb8")
    first = src.read().data
    write_raster(path, np.full((3, 8, 8), 200, np.uint8), "EPSG:32633", t)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # a distinct mtime
    assert src.read().data.mean() > first.mean()
    path.unlink()
    with pytest.raises(DataError, match="no such file"):
        src.read()
