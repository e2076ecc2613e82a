"""SCI with embodied emissions, and the carbon-aware start window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.carbon import (
    HardwareSpec,
    HourlySeries,
    best_start_window,
    embodied_kg,
    get_hardware,
    hardware_table,
    sci,
)
from core.carbon.hourly import series_from_mapping
from core.errors import DataError

GRID = Path(__file__).resolve().parents[3] / "data" / "grid"
T0 = datetime(2022, 1, 1, tzinfo=UTC)


def test_sci_formula_with_pue_and_embodied() -> None:
    r = sci(energy_kwh=2.0, intensity_g_per_kwh=300.0, embodied_kg=0.4, functional_units=1000, pue=1.5)
    assert r.operational_kg == pytest.approx(2.0 * 1.5 * 300 / 1000)  # 0.9 kg
    assert r.total_kg == pytest.approx(1.3)
    assert r.sci_g_per_unit == pytest.approx(1.3)  # 1300 g / 1000 units
    assert r.to_dict()["pue"] == 1.5


def test_embodied_share_formula() -> None:
    spec = HardwareSpec("box", embodied_kg=1000.0, lifetime_years=4.0, source="test")
    hours = 24.0
    expected = 1000.0 * hours / (4 * 365.25 * 24) * (8 / 32)
    assert embodied_kg(spec, hours, resources_reserved=8, resources_total=32) == pytest.approx(expected)
    assert embodied_kg("nvidia-a100", 0.0) == 0.0


def test_hardware_table_has_sources() -> None:
    table = hardware_table()
    assert table and all(spec.source and spec.lifetime_years > 0 for spec in table.values())
    assert get_hardware("nvidia-a100").embodied_kg == 150
    with pytest.raises(DataError, match="HardwareSpec"):
        get_hardware("abacus")


@pytest.mark.parametrize(
    "kwargs",
    [{"functional_units": 0}, {"pue": 0.9}, {"energy_kwh": float("nan")}, {"embodied_kg": -1.0}],
)
def test_sci_rejects_bad_input(kwargs: dict[str, float]) -> None:
    args = {"energy_kwh": 1.0, "intensity_g_per_kwh": 100.0, "embodied_kg": 0.0, "functional_units": 1}
    with pytest.raises(DataError):
        sci(**{**args, **kwargs})


def _series(values: list[float]) -> HourlySeries:
    mapping = {T0 + timedelta(hours=k): v for k, v in enumerate(values)}
    return series_from_mapping(mapping, zone="XX", source="test", scope="lifecycle")


def test_best_window_finds_the_valley() -> None:
    s = _series([500, 400, 100, 100, 300, 500, 500, 500])
    r = best_start_window(s, job_hours=2, earliest=T0, deadline=T0 + timedelta(hours=8), power_kw=1.0)
    assert r.start == T0 + timedelta(hours=2) and r.end == T0 + timedelta(hours=4)
    assert r.mean_g_per_kwh == pytest.approx(100)
    assert r.co2e_kg == pytest.approx(0.2) and r.now_co2e_kg == pytest.approx(0.9)
    assert r.saved_kg == pytest.approx(0.7) and r.candidates == 7


def test_fractional_job_and_mid_hour_start() -> None:
    s = _series([100, 200, 300, 400])
    earliest = T0 + timedelta(minutes=30)
    r = best_start_window(s, job_hours=1.5, earliest=earliest, deadline=T0 + timedelta(hours=4), power_kw=2.0)
    # from 00:30: 0.5 h at 100 + 1 h at 200 → mean 500/3 g/kWh; that is the best start
    assert r.start == earliest and r.mean_g_per_kwh == pytest.approx(500 / 3)
    assert r.saved_kg == 0.0


def test_window_errors() -> None:
    s = _series([100] * 6)
    with pytest.raises(DataError, match="cannot finish"):
        best_start_window(s, 5, T0, T0 + timedelta(hours=3), 1.0)
    with pytest.raises(DataError, match="not covered"):
        best_start_window(s, 1, T0, T0 + timedelta(hours=30), 1.0)
    with pytest.raises(DataError, match="job_hours"):
        best_start_window(s, 0, T0, T0 + timedelta(hours=3), 1.0)


def test_real_series_invariants() -> None:
    s = HourlySeries.from_csv(GRID / "ERCO_NG_avgCI_2022.csv.gz")
    earliest = datetime(2022, 4, 10, 18, tzinfo=UTC)
    r = best_start_window(s, 4, earliest, earliest + timedelta(hours=36), power_kw=0.5)
    assert earliest <= r.start <= earliest + timedelta(hours=32)
    assert 0 <= r.co2e_kg <= r.now_co2e_kg and r.saved_kg == pytest.approx(r.now_co2e_kg - r.co2e_kg)
    hours = s.series[r.start : r.end - timedelta(minutes=1)]
    assert r.mean_g_per_kwh == pytest.approx(hours.mean())
    assert r.zone == "US-ERCO" and "EIA-930" in r.source
