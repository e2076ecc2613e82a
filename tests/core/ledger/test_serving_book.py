"""ServingBook: per-request serving footprints summed into one ledger row per key and minute."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.carbon import Intensity
from core.energy import ComponentEnergy, Measurement
from core.errors import LedgerError
from core.ledger import Ledger
from core.ledger.serving import ServingBook, serving_book
from tests.pg_cluster import BACKENDS, url_for

FR = Intensity("FR", 50.0, "test table", 2023, "lifecycle", "CO2e", "average", "annual_table")
T0 = 1_800_000_000.0  # a minute boundary (divisible by 60)


def _request(energy_j: float, method: str = "counter", count: int = 1,
             name: str = "maintenance.predict") -> Measurement:
    return Measurement(
        name=name, unit="engine", count=count, start_unix_s=T0, wall_s=0.5, cpu_s=0.4,
        components=(ComponentEnergy("cpu_package:0", energy_j * 0.8, method, "powercap rapl:0"),
                    ComponentEnergy("dram:0", energy_j * 0.2, method, "powercap rapl:0:0")),
        scope="machine" if method == "counter" else "process", utilisation=0.4,
        uncertainty_rel=0.05)  # type: ignore[arg-type]


class _Clock:
    def __init__(self) -> None:
        self.now = T0 + 1.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest) -> Ledger:
    return Ledger(url_for(request, request.param))


def _book(ledger: Ledger, clock: _Clock) -> ServingBook:
    return ServingBook(ledger, window_s=60.0, clock=clock, flush_every_s=None)


def test_300_requests_in_a_minute_make_one_row_with_sums(ledger: Ledger) -> None:
    clock = _Clock()
    book = _book(ledger, clock)
    ids = {book.add(app="maintenance", run_id="serve-fd001", measurement=_request(2.0, count=3),
                    intensity=FR, pue=1.2, detail="lgbm-compact",
                    counters={"engines": 3, "prompt_tokens": 0.5}) for _ in range(300)}
    assert book.flush() == [] and ledger.footprints() == []  # the minute is still open
    assert book.pending_requests() == 300
    clock.now = T0 + 60.0
    (row,) = book.flush()
    assert ledger.footprints() == [row] and {row.record_id} == ids
    assert row.phase == "serve" and row.count == 900 and row.unit == "engine"
    assert row.energy_j == pytest.approx(600.0) and row.wall_s == pytest.approx(150.0)
    assert row.co2e_kg == pytest.approx(600.0 / 3.6e6 * 1.2 * 50.0 / 1000.0)
    assert row.method == "counter" and row.intensity_source == "test table" and row.pue == 1.2
    assert {c["name"]: c["energy_j"] for c in row.components} == pytest.approx(
        {"cpu_package:0": 480.0, "dram:0": 120.0})
    assert "lgbm-compact" in row.notes and "300 request(s)" in row.notes
    assert "engines=900" in row.notes and "prompt_tokens=150" in row.notes
    assert "2027-01-15T08:00:00Z" in row.notes  # the window, in UTC
    assert book.pending_requests() == 0


def test_windows_methods_and_endpoints_are_kept_apart(ledger: Ledger) -> None:
    clock = _Clock()
    book = _book(ledger, clock)
    book.add(app="m", run_id="r", measurement=_request(1.0), intensity=FR)
    book.add(app="m", run_id="r", measurement=_request(1.0, method="modelled"), intensity=FR)
    book.add(app="m", run_id="r", measurement=_request(1.0, name="m.batch"), intensity=FR)
    clock.now = T0 + 61.0  # the next minute
    book.add(app="m", run_id="r", measurement=_request(5.0), intensity=FR)
    rows = book.flush()
    assert len(rows) == 3 and {r.method for r in rows} == {"counter", "modelled"}
    assert {r.name for r in rows} == {"maintenance.predict", "m.batch"}
    (last,) = book.close()  # shutdown writes the open minute too
    assert last.energy_j == pytest.approx(5.0) and len(ledger.footprints()) == 4


def test_a_ledger_outage_keeps_the_windows_for_the_next_flush(ledger: Ledger, tmp_path: Path,
                                                               monkeypatch) -> None:
    clock = _Clock()
    book = _book(ledger, clock)
    book.add(app="m", run_id="r", measurement=_request(1.0), intensity=FR)
    clock.now = T0 + 60.0

    def down(**_kwargs):
        raise LedgerError("database is locked")

    monkeypatch.setattr(ledger, "record_footprint", down)
    with pytest.raises(LedgerError):
        book.flush()
    assert book.pending_requests() == 1
    monkeypatch.undo()
    assert len(book.flush()) == 1 and book.pending_requests() == 0


def test_one_book_per_ledger_and_its_flusher_writes_closed_windows(ledger: Ledger) -> None:
    import time

    assert serving_book(ledger) is serving_book(ledger)
    book = ServingBook(ledger, window_s=0.05, flush_every_s=0.01)
    book.add(app="m", run_id="r", measurement=_request(1.0), intensity=FR)
    for _ in range(500):  # poll the background flusher (not a timed assertion)
        if ledger.footprints():
            break
        time.sleep(0.01)
    assert len(ledger.footprints()) == 1 and book.pending_requests() == 0
    book.close()
