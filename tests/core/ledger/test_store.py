"""Ledger: append-only records, validation, corrupt files, exports, concurrent processes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from core.carbon import Intensity, resolve_source
from core.energy import ComponentEnergy, Measurement, Meter
from core.errors import DataError, LedgerError
from core.ledger import Ledger

FR = Intensity("FR", 50.0, "test table", 2023, "lifecycle", "CO2e", "average", "annual_table")


def _measurement(energy_j: float = 3.6e6, count: int = 10) -> Measurement:
    """A measurement with a known CPU counter and DRAM split (1 kWh by default)."""
    return Measurement(
        name="train", unit="sample", count=count, start_unix_s=1_700_000_000.0, wall_s=100.0,
        cpu_s=90.0,
        components=(ComponentEnergy("cpu_package:0", energy_j * 0.75, "counter", "powercap intel-rapl:0"),
                    ComponentEnergy("dram:0", energy_j * 0.25, "counter", "powercap intel-rapl:0:0")),
        scope="machine", utilisation=0.9, uncertainty_rel=0.05,
    )  # fmt: skip


@pytest.fixture()
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'sub' / 'ledger.db'}")


def test_footprint_roundtrip_and_co2e(ledger: Ledger) -> None:
    fp = ledger.record_footprint(app="maintenance", run_id="r1", phase="train",
                                 measurement=_measurement(), intensity=FR, pue=1.2, notes="n")  # fmt: skip
    assert fp.co2e_kg == pytest.approx(1.0 * 1.2 * 50 / 1000)
    [back] = ledger.footprints()
    assert back == fp
    assert back.energy_kwh == pytest.approx(1.0) and back.method == "counter"
    assert back.components[1] == {"name": "dram:0", "energy_j": 900000.0, "method": "counter",
                                  "source": "powercap intel-rapl:0:0"}  # fmt: skip
    assert back.intensity_source == "test table" and back.intensity_year == 2023
    assert back.to_dict()["components"][0]["name"] == "cpu_package:0"


def test_real_meter_measurement_and_filters(ledger: Ledger) -> None:
    meter = Meter()
    with meter.window("predict", unit="request") as w:
        sum(range(100_000))
        w.count = 5
    assert w.measurement is not None
    ciso = resolve_source("US-CISO").intensity()
    ledger.record_footprint(app="a", run_id="r1", phase="serve", measurement=w.measurement, intensity=ciso)
    ledger.record_footprint(app="b", run_id="r2", phase="train", measurement=_measurement(), intensity=FR)
    assert [f.app for f in ledger.footprints(app="a")] == ["a"]
    assert [f.phase for f in ledger.footprints(phase="train")] == ["train"]
    assert ledger.footprints(app="a")[0].zone == "US-CISO"
    assert ledger.apps() == ["a", "b"]


def test_savings_roundtrip_and_validation(ledger: Ledger) -> None:
    sv = ledger.record_saving(app="m", run_id="r", kind="avoided_failures", co2e_kg=10.0,
                              co2e_kg_low=5.0, co2e_kg_high=20.0, baseline="run-to-failure",
                              method="counterfactual", period_days=365.0,
                              assumptions={"jet_a": {"value": 3.16, "source": "ICAO"}})  # fmt: skip
    assert ledger.savings(kind="avoided_failures") == [sv]
    assert sv.assumptions["jet_a"]["value"] == 3.16
    same = ledger.record_saving(app="m", run_id="r", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    assert (same.co2e_kg_low, same.co2e_kg_high) == (1.0, 1.0)
    bad = {"app": "m", "run_id": "r", "kind": "x", "baseline": "b", "method": "m"}
    with pytest.raises(DataError, match="low <= central <= high"):
        ledger.record_saving(**bad, co2e_kg=1.0, co2e_kg_low=2.0)
    with pytest.raises(DataError, match="finite"):
        ledger.record_saving(**bad, co2e_kg=float("nan"))
    with pytest.raises(DataError, match="JSON"):
        ledger.record_saving(**bad, co2e_kg=1.0, assumptions={"x": float("nan")})
    with pytest.raises(DataError, match="baseline and method"):
        ledger.record_saving(**{**bad, "baseline": " "}, co2e_kg=1.0)
    assert len(ledger.savings()) == 2  # rejected input wrote nothing


def test_footprint_validation(ledger: Ledger) -> None:
    ok = {"app": "a", "run_id": "r", "measurement": _measurement(), "intensity": FR}
    with pytest.raises(DataError, match="phase"):
        ledger.record_footprint(**ok, phase="training")
    with pytest.raises(DataError, match="pue"):
        ledger.record_footprint(**ok, phase="train", pue=0.5)
    with pytest.raises(DataError, match="app"):
        ledger.record_footprint(**{**ok, "app": ""}, phase="train")
    assert ledger.footprints() == []


def test_records_cannot_be_changed_even_with_raw_sql(ledger: Ledger) -> None:
    ledger.record_footprint(app="a", run_id="r", phase="train", measurement=_measurement(), intensity=FR)
    for sql in ("UPDATE footprints SET co2e_kg = 0", "DELETE FROM footprints"):
        with pytest.raises(Exception, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(sql))
    assert len(ledger.footprints()) == 1
    assert not hasattr(ledger, "delete") and not hasattr(ledger, "update")


def test_wal_mode_and_engine_shared_for_other_tables(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_corrupt_file_is_a_clear_error_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    garbage = b"this is not sqlite " * 200
    path.write_bytes(garbage)
    with pytest.raises(LedgerError, match="not a database.*move it aside"):
        Ledger(f"sqlite:///{path}")
    assert path.read_bytes() == garbage


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not a SQLAlchemy URL"):
        Ledger("no url here")
    with pytest.raises(LedgerError):
        Ledger("nosuchdialect://x")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="directory"):
        Ledger(f"sqlite:///{blocker / 'sub' / 'l.db'}")


def test_in_memory_url_works() -> None:
    mem = Ledger("sqlite://")
    mem.record_footprint(app="a", run_id="r", phase="batch", measurement=_measurement(), intensity=FR)
    assert len(mem.footprints()) == 1


def test_csv_export_uses_codecarbon_columns(ledger: Ledger, tmp_path: Path) -> None:
    ledger.record_footprint(app="a", run_id="r1", phase="train", measurement=_measurement(), intensity=FR, pue=2.0)
    ledger.record_saving(app="a", run_id="r1", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    [row] = list(csv.DictReader(ledger.export_csv(tmp_path / "out" / "f.csv").open()))
    assert row["project_name"] == "a" and row["run_id"] == "r1"
    assert float(row["duration"]) == 100.0
    assert float(row["energy_consumed"]) == pytest.approx(2.0)  # kWh × PUE, as CodeCarbon does
    assert float(row["cpu_energy"]) == pytest.approx(1.5) and float(row["ram_energy"]) == pytest.approx(0.5)
    assert float(row["emissions"]) == pytest.approx(0.1)
    assert row["country_iso_code"] == "FR" and row["pue"] == "2.0"
    assert row["method"] == "counter" and row["intensity_source"] == "test table"
    [srow] = list(csv.DictReader(ledger.export_csv(tmp_path / "s.csv", table="savings").open()))
    assert srow["kind"] == "reuse"
    doc = json.loads(ledger.export_json(tmp_path / "all.json").read_text())
    assert len(doc["footprints"]) == 1 and doc["savings"][0]["kind"] == "reuse"
    assert not list(tmp_path.glob("**/*.tmp"))


def _writer(url: str, worker: int, n: int) -> None:
    led = Ledger(url)
    for k in range(n):
        led.record_footprint(app=f"w{worker}", run_id=f"r{k}", phase="batch",
                             measurement=_measurement(energy_j=1000.0 + k), intensity=FR)  # fmt: skip
        led.record_saving(app=f"w{worker}", run_id=f"r{k}", kind="reuse", co2e_kg=0.001,
                          baseline="b", method="m")  # fmt: skip


def test_several_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    workers, per_worker = 4, 25
    # Fresh interpreters started as plain subprocesses: no engine shared via fork, and no
    # dependence on the parent's __main__ (Streamlit's AppTest replaces it, which breaks spawn).
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
        "from test_store import _writer; _writer(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))"
    )
    here = Path(__file__).resolve().parent
    root = here.parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(here), str(root), url, str(w), str(per_worker)])
        for w in range(workers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    led = Ledger(url)
    footprints = led.footprints()
    assert len(footprints) == workers * per_worker and len(led.savings()) == workers * per_worker
    for w in range(workers):
        assert sorted(f.run_id for f in led.footprints(app=f"w{w}")) == sorted(f"r{k}" for k in range(per_worker))
    assert len({f.record_id for f in footprints}) == len(footprints)
