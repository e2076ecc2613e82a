"""`greenstack tiles run` end to end through the real CLI (tiny trained weights, real rasters)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from apps.cli import main

from .conftest import OSCD_1, OSCD_2


@pytest.fixture
def student_env(tmp_path: Path, tiny_models, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings of a user whose models folder holds the tiny student; returns ``tmp_path``."""
    models = tmp_path / "models" / "deforestation"
    models.mkdir(parents=True)
    shutil.copy(tiny_models["student"], models / "student.pt")
    monkeypatch.setenv("GREENSTACK_ZONE", "US-CISO")
    monkeypatch.setenv("GREENSTACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GREENSTACK_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


def test_tiles_run_then_resume(student_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path = student_env
    args = ["tiles", "run", "--before", str(OSCD_1), "--after", str(OSCD_2), "--out",
            str(tmp_path / "job"), "--model", "student", "--tile-px", "128", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["tiles_done"] == 4 and first["failed"] == []
    assert {"loss_ha", "co2_t_above_ground", "co2_t_with_roots", "method"} <= set(first["account"])
    assert Path(first["loss_geojson"]).exists() and Path(first["loss_gpkg"]).exists()
    dated = json.loads((tmp_path / "job" / "job.json").read_text())
    assert (dated["before"]["date"], dated["after"]["date"]) == ("2015-09-16", "2017-10-15")
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["tiles_skipped"] == 4 and second["account"] == first["account"]
    from core.ledger import Ledger

    ledger = Ledger(f"sqlite:///{tmp_path / 'cache' / 'greenstack.db'}")
    assert len(ledger.footprints(app="deforestation", phase="batch")) == 2
    assert ledger.savings(app="deforestation", kind="monitoring")


def test_tiles_run_takes_stated_dates_and_refuses_bad_ones(
        student_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path = student_env
    args = ["tiles", "run", "--before", str(OSCD_1), "--after", str(OSCD_2), "--out",
            str(tmp_path / "job"), "--model", "student", "--tile-px", "128", "--json"]
    assert main([*args, "--before-date", "2015-13-01"]) == 2
    assert "--before-date '2015-13-01' is not a date" in capsys.readouterr().err
    assert not (tmp_path / "job").exists()
    assert main([*args, "--before-date", "2015-09-01", "--after-date", "2017-10-02"]) == 0
    dated = json.loads((tmp_path / "job" / "job.json").read_text())
    assert (dated["before"]["date"], dated["after"]["date"]) == ("2015-09-01", "2017-10-02")


def test_account_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiles", "account", str(OSCD_1 / "nope.tif"), "--loss-values", "1"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["tiles", "account", "x.tif", "--loss-values", "a,b"]) == 2


def test_a_job_whose_every_tile_fails_books_no_monitoring(
        student_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path = student_env
    import rasterio

    from core.ledger import Ledger

    from .conftest import IGUACU, write_raster

    with rasterio.open(IGUACU) as src:
        arr, crs, tr = src.read(), src.crs, src.transform
    good = write_raster(tmp_path / "before.tif", arr, crs, tr)
    cut = write_raster(tmp_path / "after.tif", arr, crs, tr)
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 20])  # header kept, pixels gone
    args = ["tiles", "run", "--before", str(good), "--after", str(cut), "--sensor",
            "landsat8_bgr", "--out", str(tmp_path / "job"), "--model", "student", "--json"]
    assert main(args) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["tiles_total"] > 0 and len(out["failed"]) == out["tiles_total"]
    assert "account" not in out
    ledger = Ledger(f"sqlite:///{tmp_path / 'cache' / 'greenstack.db'}")
    assert ledger.savings(app="deforestation", kind="monitoring") == []
    assert ledger.footprints(app="deforestation", phase="batch")  # its energy is still booked
