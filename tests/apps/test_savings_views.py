"""Suite-wide savings views (/metrics totals, dashboard overview) count as core.impact does."""

from __future__ import annotations

import pytest

from core.impact import ImpactReport


def _seed(ledger) -> None:
    """Ids 1-6: estimate 10 kg (superseded by #4), reuse 0.5 kg, monitoring 100 kg (superseded
    by #6), estimate 12 kg, reuse 0.25 kg, monitoring 120 kg — 12.75 kg counted, not 22.75."""
    book = ledger.record_saving
    book(app="cooling", run_id="r1", kind="cooling_control", co2e_kg=10.0, baseline="naive, office",
         method="sim")
    book(app="cooling", run_id="r1", kind="reuse", co2e_kg=0.5, baseline="rerun", method="core.runs")
    book(app="cooling", run_id="r1", kind="monitoring", co2e_kg=100.0, baseline="b", method="m")
    book(app="cooling", run_id="r2", kind="cooling_control", co2e_kg=12.0, baseline="naive, office",
         method="sim")
    book(app="cooling", run_id="r2", kind="reuse", co2e_kg=0.25, baseline="rerun",
         method="core.runs")
    book(app="cooling", run_id="r2", kind="monitoring", co2e_kg=120.0, baseline="b", method="m")


def test_ledger_totals_match_the_impact_report(ctx) -> None:
    from apps.api.system_routes import ledger_totals

    _seed(ctx.ledger)
    ctx.ledger.record_saving(app="maintenance", run_id="m", kind="cooling_control", co2e_kg=1.0,
                             baseline="naive, office", method="sim")  # same kind+baseline, other app
    totals = {t.app: t for t in ledger_totals(ctx.ledger)}
    assert totals["cooling"].saved_co2e_kg == pytest.approx(12.75)
    assert totals["cooling"].records == 4  # every non-monitoring record read, superseded included
    assert totals["maintenance"].saved_co2e_kg == pytest.approx(1.0)
    for app, t in totals.items():
        assert t.saved_co2e_kg == pytest.approx(
            ImpactReport.from_ledger(ctx.ledger, app=app).savings.co2e_kg)


def test_overview_savings_rows_mark_superseded_records(ctx) -> None:
    from apps.dashboard.overview import savings_rows

    _seed(ctx.ledger)
    rows = savings_rows(ctx.ledger, "cooling")
    assert [r["Record"] for r in rows] == ["#1", "#2", "#3", "#4", "#5", "#6"]
    assert [r["Counted"] for r in rows] == ["no: superseded by #4", "yes", "no: superseded by #6",
                                            "yes", "yes", "no: monitoring, reported apart"]
    assert rows[0]["Central"] == "10.0 kgCO2e" and rows[0]["Assumptions"] == "—"
