"""Hourly CSV series: the real shipped files, and tiny CSVs with gaps and corruption."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.carbon import AnnualTable, HourlySeries, resolve_source
from core.errors import ConfigError, DataError, UnknownZoneError

GRID = Path(__file__).resolve().parents[3] / "data" / "grid"
HEADER = "timestamp,avg_CI\n"


def _csv(tmp_path: Path, rows: list[tuple[str, str]], name: str = "zone.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{t},{v}\n" for t, v in rows))
    return path


def _hours(n: int, start_hour: int = 0) -> list[str]:
    return [f"2022-01-01 {h:02d}:00:00+00:00" for h in range(start_hour, start_hour + n)]


def test_shipped_ciso_file_is_complete_and_lifecycle() -> None:
    s = HourlySeries.from_csv(GRID / "CISO_NG_avgCI_2022.csv.gz")
    assert s.zone == "US-CISO" and s.scope == "lifecycle" and s.gas == "CO2e"
    assert len(s.series) == 8760 and not s.series.isna().any()
    assert str(s.series.index.tz) == "UTC"
    assert s.gaps == 3 and s.gap_report.interpolated_h == 3 and int(s.filled.sum()) == 3
    # The annual table's BA row is the mean over the observed hours of this very file.
    assert s.intensity(None).g_per_kwh == pytest.approx(AnnualTable.load().lookup("US-CISO").g_per_kwh, abs=1e-3)


def test_pjm_dst_hole_is_filled_from_neighbouring_days_and_counted() -> None:
    s = HourlySeries.from_csv(GRID / "PJM_NG_avgCI_2022.csv.gz")
    report = s.gap_report
    assert report.missing_h == 23 and report.longest_gap_h == 22
    assert report.profile_filled_h == 22 and report.interpolated_h == 1
    at = datetime(2022, 3, 13, 12, tzinfo=UTC)  # inside the 22-hour hole
    filled = s.intensity(at).g_per_kwh
    neighbours = [s.series[f"2022-03-{d:02d} 12:00:00+00:00"] for d in (6, 7, 8, 9, 10, 11, 12, 14, 15)]
    assert min(neighbours) <= filled <= max(neighbours)
    assert bool(s.filled[at])


def test_short_gap_is_linear_and_absent_rows_count(tmp_path: Path) -> None:
    hours = _hours(8)
    rows = [(hours[0], "100"), (hours[1], ""), (hours[2], ""), (hours[3], "400"),
            (hours[5], "600"), (hours[6], "700"), (hours[7], "800")]  # hour 4 absent entirely
    s = HourlySeries.from_csv(_csv(tmp_path, rows), zone="XX", scope="direct")
    assert s.series.tolist() == pytest.approx([100, 200, 300, 400, 500, 600, 700, 800])
    assert s.gaps == 3 and s.gap_report.interpolated_h == 3 and s.observed_hours == 5
    assert s.intensity(datetime(2022, 1, 1, 1, 30, tzinfo=UTC)).g_per_kwh == pytest.approx(200)
    i = s.intensity(datetime(2022, 1, 1, 7, tzinfo=UTC))
    assert i.method == "hourly_csv" and i.at == datetime(2022, 1, 1, 7, tzinfo=UTC) and i.scope == "direct"


def test_long_gap_uses_same_hour_of_other_days(tmp_path: Path) -> None:
    rows = []
    for day in range(1, 6):
        for h in range(24):
            value = "" if day == 3 and 4 <= h < 12 else str(100 + h)  # 8-hour hole on day 3
            rows.append((f"2022-01-{day:02d} {h:02d}:00:00+00:00", value))
    s = HourlySeries.from_csv(_csv(tmp_path, rows), zone="XX", scope="lifecycle")
    assert s.gap_report.profile_filled_h == 8
    assert s.series["2022-01-03 05:00:00+00:00"] == pytest.approx(105)  # same-hour value


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([("2022-01-01 00:00:00", "1")], "no UTC offset"),
        ([("2022-01-01 00:00:00+00:00", "abc")], "line 2.*not a number"),
        ([("2022-01-01 00:00:00+00:00", "-5")], "finite and >= 0"),
        ([("2022-01-01 00:00:00+00:00", "1"), ("2022-01-01 00:00:00+00:00", "2")], "duplicate"),
        ([("2022-01-01 00:30:00+00:00", "1")], "on the hour"),
        ([("not a time+00:00", "1")], "unparseable"),
    ],
)
def test_corrupt_csv_is_a_clear_error(tmp_path: Path, rows: list[tuple[str, str]], match: str) -> None:
    with pytest.raises(DataError, match=match):
        HourlySeries.from_csv(_csv(tmp_path, rows), zone="XX", scope="direct")


def test_missing_columns_empty_and_unreadable(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("time,ci\n2022-01-01T00:00Z,1\n")
    with pytest.raises(DataError, match="avg_CI"):
        HourlySeries.from_csv(p, zone="XX", scope="direct")
    p.write_text(HEADER)
    with pytest.raises(DataError, match="no rows"):
        HourlySeries.from_csv(p, zone="XX", scope="direct")
    gz = tmp_path / "broken.csv.gz"
    gz.write_bytes(gzip.compress(b"timestamp,avg_CI\n")[:-6])  # truncated gzip
    with pytest.raises(DataError):
        HourlySeries.from_csv(gz, zone="XX", scope="direct")
    with pytest.raises(DataError, match="not found"):
        HourlySeries.from_csv(tmp_path / "nope.csv", zone="XX")


def test_scope_must_be_known(tmp_path: Path) -> None:
    path = _csv(tmp_path, [(h, "10") for h in _hours(3)])
    with pytest.raises(DataError, match="lifecycle or direct"):
        HourlySeries.from_csv(path, zone="XX")


def test_zone_from_file_name_and_mismatch(tmp_path: Path) -> None:
    assert HourlySeries.from_csv(GRID / "ERCO_NG_avgCI_2022.csv.gz").zone == "US-ERCO"
    with pytest.raises(ConfigError, match="holds US-ERCO"):
        HourlySeries.from_csv(GRID / "ERCO_NG_avgCI_2022.csv.gz", zone="US-CISO")
    with pytest.raises(UnknownZoneError, match="GREENSTACK_ZONE"):
        resolve_source(None, hourly_csv=_csv(tmp_path, [(h, "1") for h in _hours(2)]))


def test_resolve_source_prefers_the_hourly_csv() -> None:
    src = resolve_source("us-nyis", hourly_csv=GRID / "NYIS_NG_avgCI_2022.csv.gz")
    assert isinstance(src, HourlySeries) and src.zone == "US-NYIS"
    assert src.intensity(datetime(2022, 7, 1, 15, tzinfo=UTC)).method == "hourly_csv"


def test_out_of_range_and_naive_times_are_errors() -> None:
    s = HourlySeries.from_csv(GRID / "BPAT_NG_avgCI_2022.csv.gz")
    assert s.gaps == 0
    with pytest.raises(DataError, match="outside"):
        s.intensity(datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(DataError, match="timezone"):
        s.intensity(datetime(2022, 1, 1))
