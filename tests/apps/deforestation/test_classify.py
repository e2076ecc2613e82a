"""`greenstack tiles classify`: class maps on the input's own grid, tiled == whole image, bad
inputs named while the others are still written (tiny trained weights, real rasters)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from apps.cli import main
from apps.deforestation.classify import UNKNOWN_CLASS, classify_source
from apps.deforestation.model import load, predict_probs
from apps.deforestation.rasters import RasterSource

from .conftest import DATA, IGUACU, OSCD_1, write_raster

AMAZON = DATA / "amazon_forest"


def _amazon_chip() -> Path:
    chips = sorted(AMAZON.glob("Amazon_*.tif")) if AMAZON.is_dir() else []
    if not chips:
        pytest.skip(f"{AMAZON} holds no chips yet (shipped with the real-label training data)")
    return chips[0]


@pytest.fixture()
def env(tmp_path: Path, tiny_models, monkeypatch) -> Path:
    models = tmp_path / "models" / "deforestation"
    models.mkdir(parents=True)
    for kind in ("student", "teacher"):
        shutil.copy(tiny_models[kind], models / f"{kind}.pt")
    monkeypatch.setenv("GREENSTACK_ZONE", "US-CISO")
    monkeypatch.setenv("GREENSTACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GREENSTACK_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


@pytest.mark.parametrize(("source", "sensor"), [(IGUACU, "landsat8_bgr"),
                                                (OSCD_1, "sentinel2_l1c")])
def test_tiled_classes_equal_the_whole_image(tmp_path: Path, tiny_models, source: Path,
                                             sensor: str) -> None:
    src = RasterSource(source, sensor)
    student = load("student", 3, tiny_models["student"])
    out = tmp_path / "c.tif"
    counts = classify_source(src, student, out, tile_px=64, overlap_px=32)
    scene = src.read()
    whole = predict_probs(student, scene.data).argmax(0).astype(np.uint8)
    whole[~scene.valid] = UNKNOWN_CLASS
    with rasterio.open(out) as ds:
        tiled = ds.read(1)
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
        assert ds.dtypes == ("uint8",) and ds.nodata == UNKNOWN_CLASS
    assert (tiled == whole).mean() > 0.9999
    assert sum(counts.values()) == tiled.size
    assert counts[1] == int((tiled == 1).sum()) and counts[255] == int((tiled == 255).sum())


def test_cli_classifies_every_readable_file_and_names_the_bad_one(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with rasterio.open(IGUACU) as src:
        arr, crs, tr = src.read(), src.crs, src.transform
    arr[:, :20, :30] = 0  # Landsat fill DN → unknown
    holed = write_raster(env / "holed.tif", arr, crs, tr)
    cut = write_raster(env / "cut.tif", arr, crs, tr)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 6 // 10])
    junk = env / "junk.tif"
    junk.write_bytes(b"not a raster")
    out = env / "out"
    args = ["tiles", "classify", str(holed), str(cut), str(junk), "--sensor", "landsat8_bgr",
            "--out-dir", str(out), "--model", "student", "--tile-px", "128", "--json"]
    assert main(args) == 1
    d = json.loads(capsys.readouterr().out)
    by_name = {Path(f["input"]).name: f for f in d["files"]}
    assert by_name["holed.tif"]["error"] is None
    assert "cut.tif" in by_name["cut.tif"]["error"] and "corrupt or truncated" in by_name[
        "cut.tif"]["error"]
    assert "junk.tif" in by_name["junk.tif"]["error"] and "not a raster" in by_name["junk.tif"][
        "error"]
    assert sorted(p.name for p in out.iterdir()) == ["holed.classes.tif"]  # no partial output
    shares = by_name["holed.tif"]["shares"]
    assert abs(sum(shares.values()) - 1) < 1e-9 and shares["unknown"] >= 600 / arr[0].size
    with rasterio.open(out / "holed.classes.tif") as ds:
        assert (ds.read(1)[:20, :30] == 255).all()
    assert d["model"] == "student" and "requested explicitly" in d["model_reason"]
    assert d["energy"]["method"] and d["energy"]["energy_j"] >= 0
    from core.ledger import Ledger

    ledger = Ledger(f"sqlite:///{env / 'cache' / 'greenstack.db'}")
    assert ledger.footprints(app="deforestation", phase="serve")


def test_cli_served_model_says_why_and_works_on_a_real_amazon_chip(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chip = _amazon_chip()
    out = env / "out"
    assert main(["tiles", "classify", str(chip), "--sensor", "rgb8", "--out-dir", str(out),
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "teacher" and "served by the gate" in d["model_reason"]
    with rasterio.open(chip) as src, rasterio.open(out / f"{chip.stem}.classes.tif") as ds:
        assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
    assert main(["tiles", "classify", str(chip), "--sensor", "rgb8", "--out-dir", str(out)]) == 0
    assert "forest" in capsys.readouterr().out


def test_bad_requests_are_refused_before_any_work(env: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = env / "out"
    assert main(["tiles", "classify", str(IGUACU), "--sensor", "nope", "--out-dir",
                 str(out)]) == 2
    assert "unknown sensor" in capsys.readouterr().err
    twin = env / "twin"
    twin.mkdir()
    shutil.copy(IGUACU, twin / IGUACU.name)
    assert main(["tiles", "classify", str(IGUACU), str(twin / IGUACU.name), "--sensor",
                 "landsat8_bgr", "--out-dir", str(out)]) == 2
    assert "overwrite each other" in capsys.readouterr().err
    assert not out.exists()
