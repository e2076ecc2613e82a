"""The shipped annual table: every row labelled, scopes never mixed silently, zones resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.carbon import AnnualTable, Intensity, resolve_source, zones
from core.carbon.intensity import GASES, KINDS, SCOPES
from core.errors import DataError, UnknownZoneError


def test_every_row_has_source_year_scope_gas_kind() -> None:
    rows = zones()
    assert len(rows) > 250  # ~210 countries + 6 BAs + 51 US states + 30 Chinese provinces
    for z in rows:
        i = z.intensity
        assert i.source and 2000 <= i.year <= 2030
        assert i.scope in SCOPES and i.gas in GASES and i.kind in KINDS
        assert i.method == "annual_table" and i.at is None
        assert 0 < i.g_per_kwh < 1500


def test_scopes_per_source_family_are_consistent() -> None:
    by_family: dict[str, set[tuple[str, str]]] = {}
    for z in zones():
        family = z.intensity.source.split(" ")[0]
        by_family.setdefault(family, set()).add((z.intensity.scope, z.intensity.gas))
    assert by_family["Our"] == {("lifecycle", "CO2e")}  # OWID countries
    assert by_family["EIA-930"] == {("lifecycle", "CO2e")}  # US balancing authorities
    assert by_family["EPA"] == {("direct", "CO2e")}  # eGRID states
    assert by_family["MEE/NBS"] == {("direct", "CO2")}  # Chinese provinces


def test_known_values() -> None:
    table = AnnualTable.load()
    fr = table.lookup("fr")
    assert fr.zone == "FR" and fr.g_per_kwh == pytest.approx(56.039)
    ciso = table.lookup(" US-CISO ")
    assert ciso.year == 2022 and ciso.scope == "lifecycle"
    assert "EIA-930" in ciso.source
    assert "US-ERCO" in table and "XX" not in table


@pytest.mark.parametrize("zone", [None, "", "  "])
def test_unset_zone_says_how_to_set_it(zone: str | None) -> None:
    with pytest.raises(UnknownZoneError) as err:
        resolve_source(zone)
    msg = str(err.value)
    assert "GREENSTACK_ZONE" in msg and "--zone" in msg and "zone=" in msg
    assert "no default zone" in msg


def test_unknown_zone_suggests_and_says_how_to_set_it() -> None:
    with pytest.raises(UnknownZoneError) as err:
        resolve_source("France")
    msg = str(err.value)
    assert "'France'" in msg and "FR" in msg and "GREENSTACK_ZONE" in msg


def test_source_returns_the_annual_value_whatever_the_time() -> None:
    from datetime import UTC, datetime

    src = resolve_source("DE")
    assert src.intensity(None) == src.intensity(datetime(2024, 5, 1, tzinfo=UTC))
    assert "DE:" in src.describe()


def test_malformed_table_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text("zone,g_per_kwh,source,year,scope,gas,kind,name\nFR,abc,x,2023,lifecycle,CO2e,average,F\n")
    with pytest.raises(DataError, match="line 2"):
        AnnualTable.load(bad)
    bad.write_text("zone,g_per_kwh,source,year,scope,gas,kind,name\nFR,50,x,2023,upstream,CO2e,average,F\n")
    with pytest.raises(DataError, match="scope"):
        AnnualTable.load(bad)
    dup = "FR,50,x,2023,lifecycle,CO2e,average,F\n"
    bad.write_text("zone,g_per_kwh,source,year,scope,gas,kind,name\n" + dup + dup)
    with pytest.raises(DataError, match="twice"):
        AnnualTable.load(bad)


def test_intensity_rejects_nan_and_naive_time() -> None:
    from datetime import datetime

    with pytest.raises(DataError):
        Intensity("FR", float("nan"), "s", 2023, "lifecycle", "CO2e", "average", "annual_table")
    with pytest.raises(DataError, match="timezone"):
        Intensity("FR", 1.0, "s", 2023, "lifecycle", "CO2e", "average", "live", at=datetime(2023, 1, 1))
