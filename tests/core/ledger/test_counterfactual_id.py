"""Savings keyed by a stable counterfactual id; ledgers from before ids migrate on open."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from core.errors import DataError
from core.impact import ImpactReport
from core.ledger import Ledger, counterfactual_slug, schema
from tests.pg_cluster import BACKENDS

OLD_BASELINE = "fixed-interval replacement at the fleet's safe interval, C-MAPSS FD001 held-out engines"


def test_slug_is_stable_lower_case_and_bounded() -> None:
    assert counterfactual_slug(OLD_BASELINE) == (
        "fixed-interval-replacement-at-the-fleet-s-safe-interval-c-mapss-fd001-held-out-engines")
    assert counterfactual_slug("  Naive, fixed setpoint!  ") == "naive-fixed-setpoint"
    long = counterfactual_slug("word " * 60)
    assert len(long) <= 128 and long.startswith("word-word") and long != counterfactual_slug("word " * 61)


def test_booking_checks_the_id_and_defaults_to_the_slug(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    with pytest.raises(DataError, match="must be a slug"):
        led.record_saving(app="a", run_id="r", kind="k", counterfactual_id="Fixed Interval",
                          co2e_kg=1.0, baseline="b", method="m")
    rec = led.record_saving(app="a", run_id="r", kind="k", co2e_kg=1.0, baseline="Naive setpoint",
                            method="m")
    assert rec.counterfactual_id == "naive-setpoint"
    assert led.savings()[0].counterfactual_id == "naive-setpoint"


def _make_version_1_ledger(url: str) -> None:
    """A ledger as written before counterfactual ids: no column, schema_version 1, one saving."""
    Ledger(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_savings_counterfactual_id"))
        conn.execute(sa.text("ALTER TABLE savings DROP COLUMN counterfactual_id"))
        conn.execute(sa.text("UPDATE greenstack_meta SET value = '1' WHERE key = 'schema_version'"))
        conn.execute(sa.text(
            "INSERT INTO savings (record_id, created_unix_s, app, run_id, kind, co2e_kg, co2e_kg_low,"
            " co2e_kg_high, energy_kwh, baseline, method, assumptions_json, period_days, notes) "
            "VALUES ('old1', 0, 'maintenance', 'cmapss-fd001', 'avoided_maintenance_emissions', "
            "100, 50, 200, NULL, :b, 'm', '{}', NULL, '')"), {"b": OLD_BASELINE})
    engine.dispose()


@pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)
def test_a_version_1_ledger_migrates_and_old_records_supersede_by_id(ledger_url: str) -> None:
    _make_version_1_ledger(ledger_url)
    led = Ledger(ledger_url)  # opening migrates: adds the column, keeps the record
    with led.engine.connect() as conn:
        version = conn.execute(sa.select(schema.meta.c.value)).scalar_one()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("savings")}
    assert version == str(schema.SCHEMA_VERSION) and "counterfactual_id" in columns
    [old] = led.savings()
    assert old.counterfactual_id == counterfactual_slug(OLD_BASELINE)  # derived on read
    # Today's booking names the same counterfactual by its explicit id, with a new description.
    led.record_saving(app="maintenance", run_id="cmapss-fd001", kind="avoided_maintenance_emissions",
                      counterfactual_id=counterfactual_slug(OLD_BASELINE), co2e_kg=120.0,
                      baseline="fixed-interval replacement (FD001 held-out engines)", method="m")
    report = ImpactReport.from_ledger(led, app="maintenance")
    assert report.savings.co2e_kg == pytest.approx(120.0) and report.savings.superseded == 1
    Ledger(ledger_url).close()  # a second open finds nothing left to migrate


@pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)
def test_processes_opening_a_version_1_ledger_at_once_all_succeed(ledger_url: str) -> None:
    import subprocess
    import sys

    _make_version_1_ledger(ledger_url)
    root = Path(__file__).resolve().parents[3]
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from core.ledger import Ledger; "
            "print(len(Ledger(sys.argv[2]).savings()))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root), ledger_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["1"] * 4
