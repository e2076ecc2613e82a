"""Grid signals on the simulation calendar: carbon intensity (core.carbon), a labelled marginal
estimate from the fuel mix, a time-of-use price and a demand-response event schedule.

All series are hourly, aligned to a :class:`~apps.cooling.weather.WeatherYear`: hour ``k`` is the
local-standard hour of the weather file, looked up at its UTC instant in the 2022 grid year. UTC
hours past the end of 2022 (the last few local hours of 31 Dec) wrap to the start of the same
grid year, which is how a typical weather year is paired with one calendar grid year.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from apps.cooling.weather import HOURS_PER_YEAR, REFERENCE_YEAR, WeatherYear
from core.errors import DataError

log = logging.getLogger(__name__)

# Lifecycle gCO2e per kWh generated, by fossil fuel: IPCC AR5 WG3 Annex III medians (coal 820,
# gas 490) and 650 for oil -- the same factors that reproduce the files' ``avg_CI``, so the
# marginal estimate has the same (lifecycle) scope as the average series.
FOSSIL_G_PER_KWH = {"COL": 820.0, "NG": 490.0, "OIL": 650.0}
MARGINAL_LABEL = (
    "marginal estimate: lifecycle intensity of the hour's fossil-only generation mix (EIA-930 "
    "fuel mix x IPCC AR5 medians); assumes the marginal unit is fossil -- a proxy, not dispatch"
)

# Time-of-use tariff, USD/kWh. Modelled, not a real bill: the shape of a US commercial summer TOU
# rate (on-peak noon-18 h weekdays), levels near the 2022 US commercial average of ~0.12 USD/kWh
# (EIA Electric Power Monthly, table 5.6.A).
TARIFF_USD_PER_KWH = {"off_peak": 0.08, "mid_peak": 0.12, "on_peak": 0.22}


@dataclass(frozen=True)
class GridYear:
    """Hourly grid signals aligned to a weather year (arrays of length 8760)."""

    zone: str
    path: str
    ci_avg_g_per_kwh: np.ndarray  # average intensity, EIA-930 derived (core.carbon.HourlySeries)
    ci_marginal_g_per_kwh: np.ndarray  # labelled estimate, see MARGINAL_LABEL
    price_usd_per_kwh: np.ndarray  # modelled TOU tariff
    dr_event: np.ndarray  # 1.0 during a modelled demand-response event hour, else 0.0
    gaps_filled: int  # hours core.carbon interpolated
    source: str


def zone_from_path(path: Path) -> str:
    """``ERCO_NG_avgCI_2022.csv.gz`` -> ``US-ERCO``."""
    return "US-" + path.name.split("_", 1)[0].upper()


def load_grid(path: str | Path, weather: WeatherYear, zone: str | None = None) -> GridYear:
    """Read an hourly grid CSV (shared EIA-930 derived format) and align it to ``weather``."""
    from core.carbon import HourlySeries

    path = Path(path)
    if not path.is_file():
        raise DataError(f"grid file {path} does not exist; pass an hourly CSV like ERCO_NG_avgCI_2022.csv.gz")
    zone = zone or zone_from_path(path)
    hs = HourlySeries.from_csv(path, zone=zone)
    avg = _on_calendar(hs.series, weather, path)
    # Estimate only: long gaps in the fuel mix are bridged linearly (the average series is not).
    marginal = _on_calendar(_fossil_mix_series(path), weather, path, max_gap_h=None)
    local = weather.local_times
    return GridYear(
        zone=zone, path=str(path), ci_avg_g_per_kwh=avg, ci_marginal_g_per_kwh=marginal,
        price_usd_per_kwh=tou_price(local), dr_event=dr_events(avg, local),
        gaps_filled=int(getattr(hs, "gaps", 0) or 0),
        source=f"EIA-930 hourly fuel mix 2022 via {path.name} (core.carbon.HourlySeries, average)",
    )


def _on_calendar(series: pd.Series, weather: WeatherYear, path: Path,
                 max_gap_h: int | None = 3) -> np.ndarray:
    """Values at each weather hour's UTC instant, wrapping into the grid year (see module doc)."""
    s = series.copy()
    s.index = pd.DatetimeIndex(s.index).tz_convert("UTC")
    s = s[s.index.year == REFERENCE_YEAR]
    year = pd.date_range(f"{REFERENCE_YEAR}-01-01", periods=HOURS_PER_YEAR, freq="h", tz="UTC")
    s = s[~s.index.duplicated()].reindex(year).interpolate(limit=max_gap_h, limit_direction="both")
    if s.isna().any():
        raise DataError(f"{path}: {int(s.isna().sum())} hours of {REFERENCE_YEAR} missing "
                        f"beyond {max_gap_h}-hour gaps; supply a full-year hourly series")
    hours = ((weather.utc_times - year[0]) // pd.Timedelta(hours=1)).to_numpy() % HOURS_PER_YEAR
    return s.to_numpy(dtype=float)[hours]


def _fossil_mix_series(path: Path) -> pd.Series:
    from core.carbon.hourly import read_grid_frame

    frame = read_grid_frame(path)  # names an unnamed UTC-timestamp first column "timestamp"
    try:
        df = frame.set_index(pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601"))
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: cannot read fuel-mix timestamps ({e}); expected EIA-930 format") from e
    missing = [c for c in FOSSIL_G_PER_KWH if c not in df.columns]
    if missing:
        raise DataError(f"{path}: fuel columns {missing} missing; need COL, NG, OIL for the marginal estimate")
    fossil = df[list(FOSSIL_G_PER_KWH)].clip(lower=0)
    total_mw = fossil.sum(axis=1)
    grams = sum(fossil[c] * f for c, f in FOSSIL_G_PER_KWH.items())
    return (grams / total_mw.where(total_mw > 0)).rename("marginal_g_per_kwh")


def tou_price(local: pd.DatetimeIndex) -> np.ndarray:
    """Modelled TOU price per local hour (USD/kWh): on-peak 12-18 h weekdays Jun-Sep."""
    hour, weekday = np.asarray(local.hour), np.asarray(local.day_of_week) < 5
    summer = np.isin(np.asarray(local.month), [6, 7, 8, 9])
    on = weekday & summer & (hour >= 12) & (hour < 18)
    mid = weekday & ~on & (hour >= 8) & (hour < 21)
    return np.where(on, TARIFF_USD_PER_KWH["on_peak"],
                    np.where(mid, TARIFF_USD_PER_KWH["mid_peak"], TARIFF_USD_PER_KWH["off_peak"]))


def dr_events(ci_g_per_kwh: np.ndarray, local: pd.DatetimeIndex) -> np.ndarray:
    """Modelled demand-response events: weekday 14-18 h on the 10 summer days of highest
    afternoon carbon intensity (the kind of day a utility calls a GHG/capacity event)."""
    hour, month = np.asarray(local.hour), np.asarray(local.month)
    window = (hour >= 14) & (hour < 18) & np.isin(month, [6, 7, 8, 9]) & (np.asarray(local.day_of_week) < 5)
    day = np.arange(HOURS_PER_YEAR) // 24
    day_ci = pd.Series(np.where(window, ci_g_per_kwh, np.nan)).groupby(day).mean()
    top_days = day_ci.dropna().nlargest(10).index.to_numpy()
    return (window & np.isin(day, top_days)).astype(float)
