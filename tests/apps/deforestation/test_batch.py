"""Batch jobs on Dask: resume after a kill with byte-identical output, bad tiles reported."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from apps.deforestation.batch import JobSpec, ModelSpec, run_job
from apps.deforestation.change import raw_loss
from apps.deforestation.model import load, predict_probs
from apps.deforestation.rasters import RasterSource
from core.errors import DataError

from .conftest import IGUACU, OSCD_1, OSCD_2, write_raster


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(out: Path, models: dict[str, Path], before=OSCD_1, after=OSCD_2,
          sensor: str = "sentinel2_l1c") -> JobSpec:
    return JobSpec(RasterSource(before, sensor), RasterSource(after, sensor), out,
                   ModelSpec("student", models["student"], 3), tile_px=64, overlap_px=32,
                   mmu_ha=0.0)


def test_resume_after_kill_is_byte_identical(tmp_path: Path, tiny_models, client) -> None:
    clean = run_job(_spec(tmp_path / "clean", tiny_models), client=client)
    assert clean.tiles_done == clean.tiles_total == 16 and not clean.failed
    assert clean.remote_tasks == 0  # an in-process cluster: its threads are in this meter
    killed = _spec(tmp_path / "killed", tiny_models)
    part = run_job(killed, client=client, max_tiles=6)  # the "crash": stops before assembly
    assert part.lossmap is None and part.tiles_done == 6
    resumed = run_job(killed, client=client)
    assert (resumed.tiles_skipped, resumed.tiles_done) == (6, 10)
    assert _digest(resumed.lossmap) == _digest(clean.lossmap)
    assert _digest(resumed.confidence) == _digest(clean.confidence)
    # delete some finished tiles: they are recomputed, everything else reused
    for name in ("r000064_c000064", "r000192_c000000"):
        for f in (killed.out_dir / "tiles").glob(f"{name}*"):
            f.unlink()
    again = run_job(killed, client=client)
    assert (again.tiles_done, again.tiles_skipped) == (2, 14)
    assert _digest(again.lossmap) == _digest(clean.lossmap)
    stats = sorted((killed.out_dir / "stats").glob("*.json"))
    assert len(stats) == 16


def test_batch_output_equals_whole_image_decision(tmp_path: Path, tiny_models, client) -> None:
    job = run_job(_spec(tmp_path / "j", tiny_models), client=client)
    student = load("student", 3, tiny_models["student"])
    b, a = RasterSource(OSCD_1, "sentinel2_l1c").read(), RasterSource(OSCD_2, "sentinel2_l1c").read()
    whole = raw_loss(predict_probs(student, b.data), predict_probs(student, a.data),
                     b.valid & a.valid).codes
    with rasterio.open(job.lossmap) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.crs.to_epsg() == 4326 and ds.nodata == 255
        tiled = ds.read(1)
    assert (tiled == whole).mean() > 0.9999


def test_truncated_input_fails_some_tiles_and_the_job_goes_on(tmp_path: Path, tiny_models,
                                                              client) -> None:
    with rasterio.open(IGUACU) as src:
        arr, crs, tr = src.read(), src.crs, src.transform
    good = write_raster(tmp_path / "before.tif", arr, crs, tr)
    cut = write_raster(tmp_path / "after.tif", arr, crs, tr)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    job = run_job(_spec(tmp_path / "out", tiny_models, good, cut, "landsat8_bgr"), client=client)
    assert job.failed and job.tiles_done > 0
    assert job.tiles_done + len(job.failed) == job.tiles_total
    assert all("corrupt or truncated" in err for _, err in job.failed)
    with rasterio.open(job.lossmap) as ds:
        codes = ds.read(1)
    assert (codes[-32:] == 255).all() and (codes[:32] != 255).any()  # failed → unknown
    assert {p.name for p in (tmp_path / "out" / "tiles").glob("*.failed.json")}


def test_mismatched_grids_are_refused(tmp_path: Path, tiny_models) -> None:
    other = write_raster(tmp_path / "o.tif", np.ones((3, 32, 32), np.uint16), "EPSG:32621",
                         Affine(30, 0, 0, 0, -30, 0))
    spec = _spec(tmp_path / "x", tiny_models, IGUACU, other, "landsat8_bgr")
    with pytest.raises(DataError, match="same grid"):
        run_job(spec)
    shutil.rmtree(tmp_path / "x", ignore_errors=True)
