"""Ledger: append-only records, validation, corrupt files, exports, concurrent processes.

Tests taking ``ledger`` or ``ledger_url`` run on SQLite and on a throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from core.carbon import Intensity, resolve_source
from core.energy import ComponentEnergy, Measurement, Meter
from core.errors import DataError, LedgerError
from core.ledger import Ledger, create_tables
from tests.pg_cluster import BACKENDS, url_for

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


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":  # in a folder that does not exist yet: the ledger makes it
        return Ledger(f"sqlite:///{tmp_path / 'sub' / 'ledger.db'}")
    return Ledger(url_for(request, request.param))


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


def test_too_long_strings_are_refused_alike_on_every_database(ledger: Ledger) -> None:
    with pytest.raises(DataError, match="run_id is 200 characters long; at most 128"):
        ledger.record_footprint(app="a", run_id="r" * 200, phase="train",
                                measurement=_measurement(), intensity=FR)
    with pytest.raises(DataError, match="savings.kind is 65 characters long; at most 64"):
        ledger.record_saving(app="a", run_id="r", kind="k" * 65, co2e_kg=1.0, baseline="b",
                             method="m")
    long_text = "n" * 10_000  # Text columns have no limit
    ledger.record_saving(app="a", run_id="r" * 128, kind="k" * 64, co2e_kg=1.0, baseline="b",
                         method="m", notes=long_text)
    assert ledger.footprints() == [] and ledger.savings()[0].notes == long_text


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
    ledger.record_saving(app="a", run_id="r", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    refused = ["UPDATE footprints SET co2e_kg = 0", "DELETE FROM footprints",
               "UPDATE savings SET co2e_kg = 0", "DELETE FROM savings WHERE id > 0"]
    if ledger.engine.dialect.name == "postgresql":
        refused += ["TRUNCATE footprints", "TRUNCATE savings"]
    for sql in refused:
        with pytest.raises(Exception, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(sql))
    assert len(ledger.footprints()) == 1 and len(ledger.savings()) == 1
    assert ledger.footprints()[0].co2e_kg > 0
    assert not hasattr(ledger, "delete") and not hasattr(ledger, "update")
    # Through the API the refusal is a LedgerError that says what to do instead.
    with pytest.raises(LedgerError, match="append a correcting record"):
        ledger._run(lambda: _raw(ledger, "DELETE FROM savings"), "delete from")


def _raw(ledger: Ledger, sql: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(sql))


def test_guards_survive_reopening(ledger: Ledger) -> None:
    """A second process opening the same database (re-running the schema step) keeps one set of
    guards and the one version row."""
    again = Ledger(ledger.url)
    again.record_saving(app="a", run_id="r", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    with pytest.raises(Exception, match="append-only"), again.engine.begin() as conn:
        conn.execute(text("UPDATE savings SET co2e_kg = 2"))
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM greenstack_meta")).scalar() == 1
    assert ledger.savings()[0].co2e_kg == 1.0


def test_postgresql_role_without_ownership_appends_but_cannot_change(pg_url: str) -> None:
    """The deployment docs/carbon.md describes: tables owned by an admin role, the server's role
    has INSERT and SELECT only, so it can neither change records nor drop the guards."""
    owner = Ledger(pg_url)
    owner.record_saving(app="a", run_id="r", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    role = f"app_{uuid.uuid4().hex[:8]}"
    with owner.engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    app = Ledger(pg_url.replace("//greenstack@", f"//{role}@"))  # opening runs the schema step
    app.record_saving(app="a", run_id="r2", kind="reuse", co2e_kg=2.0, baseline="b", method="m")
    for sql in ("UPDATE savings SET co2e_kg = 0", "DELETE FROM savings",
                "DROP TRIGGER savings_append_only ON savings"):
        with pytest.raises(Exception, match="append-only|must be owner|permission denied"), app.engine.begin() as conn:
            conn.execute(text(sql))
    assert [s.co2e_kg for s in owner.savings()] == [1.0, 2.0]
    app.close()


def test_bare_postgresql_url_uses_the_shipped_driver(pg_url: str) -> None:
    bare = pg_url.replace("postgresql+psycopg://", "postgresql://")
    led = Ledger(bare)
    assert led.engine.dialect.driver == "psycopg"
    led.record_saving(app="a", run_id="r", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    assert len(Ledger(pg_url).savings()) == 1


def test_wal_mode_and_engine_shared_for_other_tables(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
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


@pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)
def test_several_processes_writing_at_once_lose_nothing(ledger_url: str) -> None:
    url = ledger_url  # a database nobody has opened yet: the workers race to create the schema
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


@pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)
def test_surface_tables_created_by_racing_workers(ledger_url: str) -> None:
    """Server workers create their own tables (API keys, cooling state) in the ledger database
    at the same moment; none of them may fail (PostgreSQL: duplicate pg_type without the lock)."""
    md = MetaData()
    Table("surface_state", md, Column("id", Integer, primary_key=True), Column("v", String(8)))
    Table("surface_more", md, Column("id", Integer, primary_key=True))
    engines = [Ledger(ledger_url).engine for _ in range(4)]  # one connection pool per "worker"
    start, errors = threading.Barrier(len(engines)), []

    def create(engine) -> None:
        start.wait()
        try:
            create_tables(engine, md)
        except Exception as e:  # collected: a thread's exception would not fail the test
            errors.append(e)

    threads = [threading.Thread(target=create, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with engines[0].begin() as conn:
        conn.execute(text("INSERT INTO surface_state (v) VALUES ('ok')"))
        assert conn.execute(text("SELECT count(*) FROM surface_more")).scalar() == 0
    for engine in engines:
        engine.dispose()
