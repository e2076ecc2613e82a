"""Booking the maintenance saving: a changed estimate supersedes, an identical one is not copied."""

from __future__ import annotations

import pytest


def _savings(central: float) -> dict:
    return {"saved_co2e_kg": {"fixed_interval": {"central": central, "low": central / 2,
                                                 "high": central * 2}},
            "method": "modelled counterfactual", "n_engines": 20,
            "factors": [{"name": "f", "unit": "u", "low": 1, "central": 2, "high": 3, "source": "s"}]}


def test_changed_estimate_supersedes_identical_is_not_copied(ctx) -> None:
    from apps.maintenance.summary import SAVING_KIND, _book_savings
    from core.impact import ImpactReport

    assert _book_savings(ctx, "FD001", _savings(10.0))
    assert not _book_savings(ctx, "FD001", _savings(10.0))  # reused evaluation: same numbers
    assert _book_savings(ctx, "FD001", _savings(12.0))  # new code: a new estimate
    assert _book_savings(ctx, "FD003", _savings(5.0))  # another fleet, another counterfactual
    assert len(ctx.ledger.savings(app="maintenance", kind=SAVING_KIND)) == 3
    report = ImpactReport.from_ledger(ctx.ledger, app="maintenance")
    assert report.savings.co2e_kg == pytest.approx(12.0 + 5.0) and report.savings.superseded == 1
