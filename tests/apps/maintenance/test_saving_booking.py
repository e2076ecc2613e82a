"""Booking the maintenance saving: a changed estimate supersedes, an identical one is not copied."""

from __future__ import annotations

import pytest


def _savings(central: float) -> dict:
    return {"saved_co2e_kg": {"fixed_interval": {"central": central, "low": central / 2,
                                                 "high": central * 2}},
            "method": "modelled counterfactual", "n_engines": 20,
            "factors": [{"name": "f", "unit": "u", "low": 1, "central": 2, "high": 3, "source": "s"}]}


def test_changed_estimate_supersedes_identical_is_not_copied(ctx) -> None:
    from apps.maintenance.card import SAVING_KIND, book_saving
    from core.impact import ImpactReport

    assert book_saving(ctx, "FD001", _savings(10.0))
    assert not book_saving(ctx, "FD001", _savings(10.0))  # reused evaluation: same numbers
    assert book_saving(ctx, "FD001", _savings(12.0))  # new code: a new estimate
    assert book_saving(ctx, "FD003", _savings(5.0))  # another fleet, another counterfactual
    assert len(ctx.ledger.savings(app="maintenance", kind=SAVING_KIND)) == 3
    report = ImpactReport.from_ledger(ctx.ledger, app="maintenance")
    assert report.savings.co2e_kg == pytest.approx(12.0 + 5.0) and report.savings.superseded == 1


def test_the_counterfactual_id_is_stable_and_supersedes_records_from_before_ids(ctx) -> None:
    from apps.maintenance.card import SAVING_KIND, book_saving, counterfactual_id
    from core.impact import ImpactReport

    # The id equals the slug of the sentence booked before ids existed (a version-1 ledger reads
    # that record's id from it), and it does not change when the description is reworded.
    old_sentence = ("fixed-interval replacement at the fleet's safe interval, C-MAPSS FD001 "
                    "held-out engines")
    ctx.ledger.record_saving(app="maintenance", run_id="cmapss-fd001", kind=SAVING_KIND,
                             co2e_kg=99.0, baseline=old_sentence, method="m")  # id from text
    assert ctx.ledger.savings()[0].counterfactual_id == counterfactual_id("FD001")
    assert book_saving(ctx, "FD001", _savings(10.0))
    report = ImpactReport.from_ledger(ctx.ledger, app="maintenance")
    assert report.savings.co2e_kg == pytest.approx(10.0) and report.savings.superseded == 1
