"""Hourly grid intensity from CSV (the EIA-930 derived format in ``data/grid/``), gaps stated.

Format: a ``timestamp`` column with UTC offsets (``2022-01-01 00:00:00+00:00``), one row per hour,
fuel columns in MW (WND, SUN, WAT, OIL, NG, COL, NUC, OTH) and ``avg_CI`` in gCO2e/kWh.
Missing hours (NaN rows, or rows absent from the file) are filled and counted:
gaps of up to ``max_gap_h`` hours by linear interpolation in time; longer gaps (PJM 2022 has a
22-hour hole on the DST switch day) by the mean of the same hour on the ``profile_days`` days
either side. Every filled hour is marked in :attr:`HourlySeries.filled` and counted in ``gaps``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.carbon.annual import HOW_TO_SET_ZONE
from core.carbon.intensity import Intensity, IntensitySource, as_utc
from core.errors import ConfigError, DataError, UnknownZoneError

if TYPE_CHECKING:
    import pandas as pd

FILE_PATTERN = re.compile(r"^(?P<ba>[A-Z]{2,5})_NG_avgCI_(?P<year>\d{4})\.csv(\.gz)?$")
BA_NAMES = {
    "BPAT": "Bonneville Power Administration",
    "CISO": "California Independent System Operator",
    "ERCO": "Electric Reliability Council of Texas",
    "MISO": "Midcontinent Independent System Operator",
    "NYIS": "New York Independent System Operator",
    "PJM": "PJM Interconnection",
}
# Lifecycle gCO2e/kWh per fuel that reproduce ``avg_CI`` in the shared files exactly: IPCC AR5
# WG3 Annex III medians (wind 11, solar 41, hydro 24, nuclear 12, gas 490, coal 820, biomass 230
# for OTH) and 650 for oil. Used only to *verify* the scope of a file, never to compute values.
LIFECYCLE_FACTORS = {
    "WND": 11.0, "SUN": 41.0, "WAT": 24.0, "OIL": 650.0,
    "NG": 490.0, "COL": 820.0, "NUC": 12.0, "OTH": 230.0,
}  # fmt: skip
EIA_SOURCE = "EIA-930 hourly grid monitor (US EIA) via HewlettPackard/dc-rl avg_CI (MIT)"
_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


@dataclass(frozen=True)
class GapReport:
    """What was missing in the file and how it was filled (hours)."""

    missing_h: int  # hours absent or NaN in the file, within its first..last timestamp
    interpolated_h: int  # filled linearly (gap <= max_gap_h)
    profile_filled_h: int  # filled from the same hour on neighbouring days
    longest_gap_h: int

    def describe(self) -> str:
        if self.missing_h == 0:
            return "no gaps"
        return (
            f"{self.missing_h} missing h filled ({self.interpolated_h} interpolated, "
            f"{self.profile_filled_h} from same-hour neighbours; longest gap {self.longest_gap_h} h)"
        )


class HourlySeries(IntensitySource):
    """Hourly average intensity of one zone; an :class:`IntensitySource` with method hourly_csv."""

    def __init__(
        self,
        series: pd.Series,
        *,
        zone: str,
        source: str,
        scope: str,
        gas: str = "CO2e",
        kind: str = "average",
        filled: pd.Series | None = None,
        gap_report: GapReport | None = None,
    ) -> None:
        self.zone = zone
        self.series = series  # UTC hourly index, g/kWh, no NaN
        self.source = source
        self.scope = scope
        self.gas = gas
        self.kind = kind
        self.filled = filled if filled is not None else series.isna() & False
        self.gap_report = gap_report or GapReport(0, 0, 0, 0)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        zone: str | None = None,
        *,
        scope: str | None = None,
        gas: str = "CO2e",
        kind: str = "average",
        source: str | None = None,
        max_gap_h: int = 3,
        profile_days: int = 7,
    ) -> HourlySeries:
        """Read a CSV with ``timestamp`` (UTC offsets) and ``avg_CI`` (g/kWh) columns.

        ``zone`` defaults to ``US-<BA>`` when the file name is ``<BA>_NG_avgCI_<year>.csv[.gz]``.
        ``scope`` defaults to lifecycle only when the fuel columns prove it (see
        ``LIFECYCLE_FACTORS``); otherwise it must be passed. Raises DataError on corrupt input.
        """
        path = Path(path)
        frame = read_grid_frame(path)
        zone = _resolve_zone(path, zone)
        scope = _resolve_scope(frame, scope, path)
        raw = _parse(frame, path)
        series, filled, report = fill_gaps(raw, max_gap_h=max_gap_h, profile_days=profile_days)
        match = FILE_PATTERN.match(path.name)
        if source is None:
            source = f"{EIA_SOURCE}, {path.name}" if match else f"hourly CSV {path.name}"
        return cls(
            series, zone=zone, source=source, scope=scope, gas=gas, kind=kind,
            filled=filled, gap_report=report,
        )  # fmt: skip

    # -- facts about the series -----------------------------------------------------------------
    @property
    def gaps(self) -> int:
        """Number of hours that were missing in the file and filled."""
        return self.gap_report.missing_h

    @property
    def year(self) -> int:
        """The calendar year most hours belong to."""
        return int(self.series.index.year.value_counts().idxmax())

    @property
    def observed_hours(self) -> int:
        return int((~self.filled).sum())

    def observed_mean(self) -> float:
        """Unweighted mean g/kWh over observed (not filled) hours."""
        return float(self.series[~self.filled].mean())

    # -- IntensitySource ------------------------------------------------------------------------
    def intensity(self, at: datetime | None = None) -> Intensity:
        """The hour containing ``at`` (UTC-aware), or for None the mean over observed hours."""
        if at is None:
            return self._make(self.observed_mean(), self.year, None)
        import pandas as pd

        hour = pd.Timestamp(as_utc(at)).floor("h")
        if hour < self.series.index[0] or hour > self.series.index[-1]:
            raise DataError(
                f"hourly series for {self.zone} covers {self.series.index[0]} to "
                f"{self.series.index[-1]}; {hour} is outside it. Use a series covering that time, "
                "or intensity(at=None) for the series mean"
            )
        return self._make(float(self.series.loc[hour]), hour.year, hour.to_pydatetime())

    def _make(self, g_per_kwh: float, year: int, at: datetime | None) -> Intensity:
        return Intensity(
            zone=self.zone, g_per_kwh=g_per_kwh, source=self.source, year=year,
            scope=self.scope, gas=self.gas, kind=self.kind, method="hourly_csv", at=at,
        )  # fmt: skip


def read_grid_frame(path: Path) -> pd.DataFrame:
    """The hourly grid CSV as a frame with a ``timestamp`` column (strings) and ``avg_CI``.

    A CSV written with its index (``DataFrame.to_csv()``: an unnamed first column) is read when
    that column holds UTC-offset timestamps; otherwise the error names the column."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"hourly grid CSV not found: {path} (check --grid-csv / GREENSTACK_GRID_CSV)")
    try:
        frame = pd.read_csv(path, dtype={"timestamp": str})
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as e:
        raise DataError(f"cannot read hourly grid CSV {path}: {e}") from e
    first = str(frame.columns[0]) if len(frame.columns) else ""
    if "timestamp" not in frame.columns and (first == "" or first.startswith("Unnamed: ")):
        stamps = frame[first].astype(str).str.strip()
        if frame.empty or not stamps.str.contains(_OFFSET, regex=True).all():
            raise DataError(f"{path}: the unnamed first column (header {first!r}) is not UTC "
                            "timestamps with an offset (e.g. 2022-01-01 00:00:00+00:00); name the "
                            "timestamp column 'timestamp'")
        frame = frame.rename(columns={first: "timestamp"})
    missing = {"timestamp", "avg_CI"} - set(frame.columns)
    if missing:
        raise DataError(
            f"{path} lacks column(s) {sorted(missing)}; expected 'timestamp' (UTC) and 'avg_CI' "
            "(gCO2e/kWh) as in data/grid/*_NG_avgCI_2022.csv.gz"
        )
    if frame.empty:
        raise DataError(f"{path} has no rows")
    return frame


def _resolve_zone(path: Path, zone: str | None) -> str:
    match = FILE_PATTERN.match(path.name)
    from_name = f"US-{match['ba']}" if match else None
    if zone is None:
        if from_name is None:
            raise UnknownZoneError(
                f"Cannot tell the grid zone of {path.name}; state it with the CSV. {HOW_TO_SET_ZONE}"
            )
        return from_name
    zone = zone.strip().upper()
    if from_name is not None and zone != from_name:
        raise ConfigError(
            f"zone {zone} does not match {path.name}, which holds {from_name}; "
            "use the file of your zone or drop the zone argument"
        )
    return zone


def _resolve_scope(frame: pd.DataFrame, scope: str | None, path: Path) -> str:
    verified = _verify_lifecycle(frame)
    if scope is None:
        if verified:
            return "lifecycle"
        raise DataError(
            f"cannot tell whether avg_CI in {path.name} is lifecycle or direct emissions; "
            "pass scope='lifecycle' or scope='direct'"
        )
    if verified and scope != "lifecycle":
        raise DataError(f"{path.name} avg_CI matches lifecycle factors, but scope={scope!r} given")
    return scope


def _verify_lifecycle(frame: pd.DataFrame, tol_g_per_kwh: float = 0.5) -> bool:
    """True when avg_CI equals the fuel mix times ``LIFECYCLE_FACTORS`` on every complete row."""
    import numpy as np
    import pandas as pd

    cols = list(LIFECYCLE_FACTORS)
    if not set(cols) <= set(frame.columns):
        return False
    mix = frame[cols].apply(pd.to_numeric, errors="coerce").clip(lower=0)
    total = mix.sum(axis=1, min_count=len(cols))
    ci = pd.to_numeric(frame["avg_CI"], errors="coerce")
    ok = total.gt(0) & ci.notna()
    if not ok.any():
        return False
    factors = np.array([LIFECYCLE_FACTORS[c] for c in cols])
    implied = (mix[ok].to_numpy(float) @ factors) / total[ok].to_numpy(float)
    return bool(np.max(np.abs(implied - ci[ok].to_numpy(float))) < tol_g_per_kwh)


def _parse(frame: pd.DataFrame, path: Path) -> pd.Series:
    import pandas as pd

    stamps = frame["timestamp"].astype(str).str.strip()
    naive = ~stamps.str.contains(_OFFSET, regex=True)
    if naive.any():
        row = int(naive.idxmax()) + 2  # +1 header, +1 one-based
        raise DataError(
            f"{path.name} line {row}: timestamp {stamps[naive].iloc[0]!r} has no UTC offset; "
            "write timestamps like 2022-01-01 00:00:00+00:00"
        )
    try:
        index = pd.to_datetime(stamps, utc=True, format="ISO8601")
    except (ValueError, TypeError) as e:
        raise DataError(f"{path.name}: unparseable timestamp ({e})") from e
    values = pd.to_numeric(frame["avg_CI"], errors="coerce")
    bad = values.isna() & frame["avg_CI"].notna()
    if bad.any():
        row = int(bad.idxmax()) + 2
        raise DataError(f"{path.name} line {row}: avg_CI {frame['avg_CI'][bad].iloc[0]!r} is not a number")
    _check_values(values, index, path)
    return pd.Series(values.to_numpy(float), index=pd.DatetimeIndex(index), name="g_per_kwh")


def _check_values(values: pd.Series, index: pd.Series, path: Path) -> None:
    if (values < 0).any() or values.isin([math.inf, -math.inf]).any():
        row = int(((values < 0) | values.abs().eq(math.inf)).idxmax()) + 2
        raise DataError(f"{path.name} line {row}: avg_CI must be finite and >= 0")
    if index.duplicated().any():
        raise DataError(f"{path.name}: duplicate timestamp {index[index.duplicated()].iloc[0]}")
    if ((index.dt.minute != 0) | (index.dt.second != 0)).any():
        raise DataError(f"{path.name}: timestamps must be on the hour (hourly series)")


def fill_gaps(
    raw: pd.Series, *, max_gap_h: int = 3, profile_days: int = 7
) -> tuple[pd.Series, pd.Series, GapReport]:
    """Reindex to a complete hourly UTC range and fill gaps; returns (series, filled, report)."""
    import pandas as pd

    raw = raw.sort_index()
    full = pd.date_range(raw.index[0], raw.index[-1], freq="h", tz="UTC")
    series = raw.reindex(full)
    missing = series.isna()
    run_id = (missing != missing.shift()).cumsum()
    run_len = missing.groupby(run_id).transform("sum")
    interp = series.interpolate(method="time", limit_area="inside")
    short = missing & (run_len <= max_gap_h) & interp.notna()
    series = series.where(~short, interp)
    remaining = series.isna()
    if remaining.any():
        observed = raw.reindex(full)
        shifts = [observed.shift(k * 24) for k in range(-profile_days, profile_days + 1) if k]
        profile = pd.concat(shifts, axis=1).mean(axis=1)
        series = series.where(~remaining, profile)
    if series.isna().any():
        raise DataError(
            f"{int(series.isna().sum())} hours could not be filled: a gap is longer than "
            f"{profile_days} days; supply a more complete series"
        )
    report = GapReport(
        missing_h=int(missing.sum()),
        interpolated_h=int(short.sum()),
        profile_filled_h=int(remaining.sum()),
        longest_gap_h=int(run_len[missing].max()) if missing.any() else 0,
    )
    return series.rename("g_per_kwh"), missing.rename("filled"), report


def series_from_mapping(values: Mapping[datetime, float], **kwargs: str) -> HourlySeries:
    """Build an :class:`HourlySeries` from ``{utc_hour: g_per_kwh}`` (forecasts, tests)."""
    import pandas as pd

    index = pd.DatetimeIndex([pd.Timestamp(as_utc(k)) for k in values])
    raw = pd.Series(list(values.values()), index=index, dtype=float)
    series, filled, report = fill_gaps(raw)
    return HourlySeries(series, filled=filled, gap_report=report, **kwargs)  # type: ignore[arg-type]
