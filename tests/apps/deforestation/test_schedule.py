"""--deadline: the lowest-carbon start window from a real hourly series (CAISO 2022)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.deforestation.schedule import wait_for_window
from apps.deforestation.service import DeforestationService
from core.errors import ConfigError

GRID = Path(__file__).resolve().parents[3] / "data" / "grid" / "CISO_NG_avgCI_2022.csv.gz"


def test_window_before_deadline_and_avoided_emissions_booked(ctx) -> None:
    from core.carbon import HourlySeries

    svc = DeforestationService(replace(ctx, carbon=HourlySeries.from_csv(GRID, zone="US-CISO")))
    now = datetime(2022, 6, 1, 0, tzinfo=UTC)
    slept: list[float] = []  # fake clock and sleep: time is the hardware edge here
    plan = wait_for_window(svc, now + timedelta(hours=24), 2.0, 0.1, wait=False,
                           clock=lambda: now, sleep=slept.append)
    start = datetime.fromisoformat(plan["start"])
    assert now <= start <= now + timedelta(hours=22)
    assert plan["co2e_kg"] <= plan["now_co2e_kg"] and not plan["waited"] and not slept
    assert not ctx.ledger.savings(app="deforestation", kind="carbon_aware_scheduling")
    booked = wait_for_window(svc, now + timedelta(hours=24), 2.0, 0.1, wait=True,
                             clock=lambda: now, sleep=slept.append)
    assert slept == ([(start - now).total_seconds()] if start > now else [])
    if booked["saved_kg"] > 0:
        rec = ctx.ledger.savings(app="deforestation", kind="carbon_aware_scheduling")
        assert rec and rec[0].co2e_kg == pytest.approx(booked["saved_kg"])


def test_deadline_needs_an_hourly_series(ctx) -> None:
    with pytest.raises(ConfigError, match="hourly"):
        wait_for_window(DeforestationService(ctx), datetime.now(UTC), 1.0, 0.1, wait=False)
