"""ImpactReport arithmetic on a real ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.carbon import Intensity
from core.energy import Measurement
from core.impact import ImpactReport, payback_days
from core.ledger import Ledger

INTENSITY = Intensity("FR", 100.0, "test", 2023, "lifecycle", "CO2e", "average", "annual_table")
KWH = 3.6e6


def _m(kwh: float, count: int = 0, unit: str | None = None) -> Measurement:
    return Measurement.user_forced("x", kwh * KWH, unit=unit, count=count, wall_s=1.0, uncertainty_rel=0.1)


@pytest.fixture()
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    led.record_footprint(app="m", run_id="r", phase="train", measurement=_m(10), intensity=INTENSITY)  # 1 kg
    led.record_footprint(app="m", run_id="r", phase="serve", measurement=_m(2, 1000, "request"),
                         intensity=INTENSITY, pue=1.5)  # 0.3 kg  # fmt: skip
    led.record_saving(app="m", run_id="r", kind="avoided_failures", co2e_kg=0.5, co2e_kg_low=0.2,
                      co2e_kg_high=1.0, baseline="b", method="m")  # one-off  # fmt: skip
    led.record_saving(app="m", run_id="r", kind="energy", co2e_kg=3.6, co2e_kg_low=1.8,
                      co2e_kg_high=7.2, baseline="b", method="m", period_days=360)  # 0.01 kg/day
    led.record_saving(app="m", run_id="r", kind="monitoring", co2e_kg=1000.0, baseline="b", method="m")
    led.record_footprint(app="other", run_id="q", phase="train", measurement=_m(1), intensity=INTENSITY)
    return led


def test_footprint_by_phase_and_totals(ledger: Ledger) -> None:
    r = ImpactReport.from_ledger(ledger, app="m")
    phases = {p.phase: p for p in r.footprint_by_phase}
    assert phases["train"].co2e_kg == pytest.approx(1.0) and phases["train"].energy_kwh == pytest.approx(10)
    assert phases["serve"].co2e_kg == pytest.approx(0.3)
    assert r.footprint_kg == pytest.approx(1.3) and r.footprint_kwh == pytest.approx(12)
    assert r.footprint_kg_low == pytest.approx(1.3 * 0.9) and r.footprint_kg_high == pytest.approx(1.3 * 1.1)
    assert phases["train"].methods == ("user_forced",)


def test_monitoring_is_reported_not_counted(ledger: Ledger) -> None:
    r = ImpactReport.from_ledger(ledger, app="m")
    assert r.monitoring.co2e_kg == 1000.0 and r.monitoring.records == 1
    assert r.savings.co2e_kg == pytest.approx(4.1)
    assert (r.savings.co2e_kg_low, r.savings.co2e_kg_high) == pytest.approx((2.0, 8.2))
    assert r.net_kg == pytest.approx(4.1 - 1.3)
    assert r.net_kg_low == pytest.approx(2.0 - 1.43) and r.net_kg_high == pytest.approx(8.2 - 1.17)
    assert {s.kind for s in r.savings_by_kind} == {"avoided_failures", "energy"}


def test_payback_from_stated_rate(ledger: Ledger) -> None:
    r = ImpactReport.from_ledger(ledger, app="m")
    assert r.savings_rate_kg_per_day == pytest.approx(0.01)
    assert r.payback_days == pytest.approx((1.3 - 0.5) / 0.01)
    assert payback_days(1.0, 2.0, 0.0) == (0.0, "one-off savings already exceed the footprint")
    assert payback_days(1.0, 0.5, 0.0)[0] is None
    assert payback_days(0.0, 0.0, 0.0)[0] == 0.0


def test_sci_per_functional_unit(ledger: Ledger) -> None:
    [line] = ImpactReport.from_ledger(ledger, app="m").sci
    assert (line.phase, line.unit, line.count) == ("serve", "request", 1000)
    assert line.co2e_g_per_unit == pytest.approx(300.0 / 1000)
    assert line.energy_j_per_unit == pytest.approx(2 * KWH / 1000)


def test_overall_and_empty(ledger: Ledger, tmp_path: Path) -> None:
    everything = ImpactReport.from_ledger(ledger)
    assert everything.footprint_kg == pytest.approx(1.4) and everything.zones == ("FR",)
    empty = ImpactReport.from_ledger(Ledger(f"sqlite:///{tmp_path / 'e.db'}"))
    assert empty.footprint_kg == 0 and empty.payback_days == 0.0 and empty.sci == ()
    assert empty.to_dict()["savings"]["records"] == 0


def _saving(led: Ledger, kind: str, kg: float, baseline: str = "naive", app: str = "a",
            run_id: str = "r1") -> None:
    led.record_saving(app=app, run_id=run_id, kind=kind, co2e_kg=kg, co2e_kg_low=kg / 2,
                      co2e_kg_high=kg * 2, baseline=baseline, method="m")


def test_rerun_estimate_counts_once_the_latest(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    _saving(led, "cooling_control", 10.0, run_id="run-1")
    _saving(led, "cooling_control", 12.0, run_id="run-2")  # same counterfactual, new code
    r = ImpactReport.from_ledger(led)
    assert r.savings.co2e_kg == pytest.approx(12.0) and r.savings.records == 1
    assert (r.savings.co2e_kg_low, r.savings.co2e_kg_high) == pytest.approx((6.0, 24.0))
    assert r.savings.superseded == 1 and r.savings_by_kind[0].superseded == 1
    assert "1 older estimates superseded" in r.savings_note
    assert len(led.savings()) == 2  # superseding never touches the ledger


def test_latest_is_by_ledger_order_not_list_order(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    _saving(led, "cooling_control", 10.0)
    _saving(led, "cooling_control", 12.0)
    r = ImpactReport.from_records([], list(reversed(led.savings())))
    assert r.savings.co2e_kg == pytest.approx(12.0)


def test_events_accumulate(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    for _ in range(2):  # the same finished run reused twice: two avoided recomputations
        _saving(led, "reuse", 1.0, baseline="rerunning finished run k", run_id="k")
        _saving(led, "carbon_aware_scheduling", 0.5, baseline="starting now", run_id="s")
    r = ImpactReport.from_ledger(led)
    assert r.savings.co2e_kg == pytest.approx(3.0) and r.savings.records == 4
    assert r.savings.superseded == 0 and "none superseded" in r.savings_note


def test_estimates_of_other_baselines_apps_or_kinds_are_separate(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    _saving(led, "avoided", 1.0, baseline="fixed interval, FD001 engines")
    _saving(led, "avoided", 2.0, baseline="fixed interval, FD003 engines")
    _saving(led, "other_kind", 4.0, baseline="fixed interval, FD001 engines")
    _saving(led, "avoided", 8.0, baseline="fixed interval, FD001 engines", app="b")
    _saving(led, "avoided", 16.0, baseline="fixed interval, FD003 engines")  # supersedes 2.0
    r = ImpactReport.from_ledger(led)
    assert r.savings.co2e_kg == pytest.approx(1 + 4 + 8 + 16) and r.savings.superseded == 1
    assert ImpactReport.from_ledger(led, app="b").savings.co2e_kg == pytest.approx(8.0)


def test_monitoring_stays_apart_and_the_same_area_counts_once(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    _saving(led, "monitoring", 100.0, baseline="none: monitoring of area A")
    _saving(led, "monitoring", 50.0, baseline="none: monitoring of area B")
    _saving(led, "monitoring", 70.0, baseline="none: monitoring of area A")  # A accounted again
    _saving(led, "avoided", 1.0, baseline="none: monitoring of area A")
    r = ImpactReport.from_ledger(led)
    assert r.monitoring.co2e_kg == pytest.approx(120.0) and r.monitoring.records == 2
    assert r.monitoring.superseded == 1
    assert r.savings.co2e_kg == pytest.approx(1.0) and r.savings.superseded == 0


def test_payback_uses_only_the_counted_estimate(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    led.record_footprint(app="a", run_id="r", phase="train", measurement=_m(10), intensity=INTENSITY)
    for _ in range(3):
        led.record_saving(app="a", run_id="r", kind="energy", co2e_kg=3.6, baseline="b",
                          method="m", period_days=360)  # 0.01 kg/day, re-estimated 3 times
    r = ImpactReport.from_ledger(led)
    assert r.savings_rate_kg_per_day == pytest.approx(0.01)
    assert r.payback_days == pytest.approx(1.0 / 0.01)


def test_rewording_a_description_does_not_double_count(tmp_path: Path) -> None:
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    led.record_saving(app="a", run_id="r1", kind="avoided", counterfactual_id="fixed-interval-fd001",
                      co2e_kg=10.0, baseline="fixed interval, FD001 engines", method="m")
    led.record_saving(app="a", run_id="r2", kind="avoided", counterfactual_id="fixed-interval-fd001",
                      co2e_kg=12.0, baseline="replacement at a fixed interval (FD001 fleet)",
                      method="m")  # same counterfactual, reworded description
    led.record_saving(app="a", run_id="r3", kind="avoided", counterfactual_id="fixed-interval-fd003",
                      co2e_kg=5.0, baseline="fixed interval, FD001 engines", method="m")
    r = ImpactReport.from_ledger(led)
    assert r.savings.co2e_kg == pytest.approx(12.0 + 5.0)  # not 27: the first is superseded
    assert r.savings.superseded == 1 and r.savings.records == 2
