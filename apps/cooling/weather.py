"""Typical-year weather for the cooling simulator: EPW, TMY3 and TMY2 through ``pvlib.iotools``.

Every reader returns a :class:`WeatherYear`: 8760 hourly values placed by local *standard* time
(the files carry no daylight saving) on a reference calendar year, plus the matching UTC instants.
Schedules use the local hour; grid carbon intensity is looked up at the UTC instant. Values are
never rewritten; only units are converted (TMY2 stores tenths of a degree).
"""

from __future__ import annotations

import gzip
import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from core.errors import DataError

log = logging.getLogger(__name__)

HOURS_PER_YEAR = 8760
REFERENCE_YEAR = 2022  # the year of the shipped grid series; typical years are placed on it


@dataclass(frozen=True)
class WeatherYear:
    """Hourly weather of one typical year; arrays have length 8760, index = local standard hour."""

    name: str
    source_format: str  # "epw" | "tmy3" | "tmy2"
    path: str
    latitude_deg: float
    longitude_deg: float
    tz_offset_h: float  # local standard time minus UTC, hours (e.g. -7.0 for Phoenix)
    temp_c: np.ndarray  # dry-bulb air temperature, degC
    rh_pct: np.ndarray  # relative humidity, %
    ghi_w_m2: np.ndarray  # global horizontal irradiance, W/m2
    dni_w_m2: np.ndarray  # direct normal irradiance, W/m2
    dhi_w_m2: np.ndarray  # diffuse horizontal irradiance, W/m2

    @property
    def local_times(self) -> pd.DatetimeIndex:
        """Start of each hour in local standard time (naive) on the reference year."""
        return pd.date_range(f"{REFERENCE_YEAR}-01-01", periods=HOURS_PER_YEAR, freq="h")

    @property
    def utc_times(self) -> pd.DatetimeIndex:
        """UTC instant of each hour's start (may run a few hours into the next year)."""
        shifted = self.local_times - pd.Timedelta(hours=self.tz_offset_h)
        return shifted.tz_localize("UTC")


class WeatherReader:
    """One weather format. Subclasses declare columns and the hour convention; ``read`` is shared."""

    format_name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    columns: ClassVar[dict[str, str]] = {}  # our field -> column in pvlib's frame
    scale: ClassVar[dict[str, float]] = {}  # unit conversion factors per field
    hour_ending: ClassVar[bool] = False  # True when the timestamp labels the end of the hour

    def read(self, path: Path) -> WeatherYear:
        """Read ``path`` (plain or .gz) and return the typical year on the reference calendar."""
        try:
            frame, meta = self._load(path)
        except (ValueError, KeyError, IndexError, UnicodeDecodeError, OSError) as e:
            raise DataError(
                f"cannot read {path} as {self.format_name}: {e}; check the file is a complete "
                f"{self.format_name.upper()} file (gzipped or plain)"
            ) from e
        hour_idx = self._hour_of_year(frame)
        values = {f: self._place(frame, col, hour_idx, path) * self.scale.get(f, 1.0)
                  for f, col in self.columns.items()}
        return WeatherYear(
            name=_station_name(meta, path), source_format=self.format_name, path=str(path),
            latitude_deg=float(meta["latitude"]), longitude_deg=float(meta["longitude"]),
            tz_offset_h=float(meta["TZ"]), **values,
        )

    def _load(self, path: Path) -> tuple[pd.DataFrame, dict]:
        raise NotImplementedError

    def _local_index(self, frame: pd.DataFrame) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(frame.index)

    def _hour_of_year(self, frame: pd.DataFrame) -> np.ndarray:
        idx = self._local_index(frame)
        if self.hour_ending:
            idx = idx - pd.Timedelta(hours=1)
        day = np.asarray(idx.day_of_year) - 1
        # Leap-year files: fold 29 Feb onto 28 Feb's slot is wrong; drop it instead (see _place).
        leap = np.asarray(idx.is_leap_year)
        after_feb = (np.asarray(idx.month) > 2) & leap
        day = np.where(after_feb, day - 1, day)
        hour = day * 24 + np.asarray(idx.hour)
        feb29 = (np.asarray(idx.month) == 2) & (np.asarray(idx.day) == 29)
        return np.where(feb29, -1, hour % HOURS_PER_YEAR)

    def _place(self, frame: pd.DataFrame, col: str, hour_idx: np.ndarray, path: Path) -> np.ndarray:
        raw = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        keep = hour_idx >= 0
        out = np.full(HOURS_PER_YEAR, np.nan)
        out[hour_idx[keep]] = raw[keep]
        missing = int(np.isnan(out).sum())
        if missing > 3 * 24:
            raise DataError(
                f"{path}: {missing} of 8760 hours of '{col}' missing or unparsable; "
                "supply a complete typical-year file"
            )
        if missing:
            log.warning("%s: interpolating %d missing hours of %s", path, missing, col)
            out = pd.Series(out).interpolate(limit_direction="both").to_numpy()
        return out


class EpwReader(WeatherReader):
    """EnergyPlus weather (.epw); pvlib labels each row with the start of its hour."""

    format_name = "epw"
    suffixes = (".epw",)
    columns = {"temp_c": "temp_air", "rh_pct": "relative_humidity", "ghi_w_m2": "ghi",
               "dni_w_m2": "dni", "dhi_w_m2": "dhi"}

    def _load(self, path: Path) -> tuple[pd.DataFrame, dict]:
        from pvlib.iotools import read_epw

        with _open_text(path) as buf:
            return read_epw(buf, coerce_year=REFERENCE_YEAR)


class Tmy3Reader(WeatherReader):
    """NREL TMY3 (.csv); timestamps label the end of the hour (NREL/TP-581-43156)."""

    format_name = "tmy3"
    suffixes = (".csv",)
    columns = {"temp_c": "temp_air", "rh_pct": "relative_humidity", "ghi_w_m2": "ghi",
               "dni_w_m2": "dni", "dhi_w_m2": "dhi"}
    hour_ending = True

    def _load(self, path: Path) -> tuple[pd.DataFrame, dict]:
        from pvlib.iotools import read_tmy3

        with _open_text(path) as buf:
            return read_tmy3(buf, coerce_year=REFERENCE_YEAR, map_variables=True)


class Tmy2Reader(WeatherReader):
    """NREL TMY2 (.tm2); pvlib needs a real file; dry bulb is stored in tenths of degC."""

    format_name = "tmy2"
    suffixes = (".tm2",)
    columns = {"temp_c": "DryBulb", "rh_pct": "RHum", "ghi_w_m2": "GHI", "dni_w_m2": "DNI",
               "dhi_w_m2": "DHI"}
    scale = {"temp_c": 0.1}  # TMY2 user manual (NREL/SP-463-7668): dry bulb in 0.1 degC

    def _load(self, path: Path) -> tuple[pd.DataFrame, dict]:
        from pvlib.iotools import read_tmy2

        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "weather.tm2"
            plain.write_bytes(_read_bytes(path))
            return read_tmy2(str(plain))

    def _local_index(self, frame: pd.DataFrame) -> pd.DatetimeIndex:
        # TMY2 rows mix source years; rebuild the calendar from month/day/hour (hour 1 = 0-1 h).
        return pd.DatetimeIndex(pd.to_datetime({
            "year": REFERENCE_YEAR, "month": frame["month"].astype(int),
            "day": frame["day"].astype(int), "hour": frame["hour"].astype(int) - 1,
        }))


READERS: tuple[type[WeatherReader], ...] = (EpwReader, Tmy3Reader, Tmy2Reader)


def read_weather(path: str | Path) -> WeatherYear:
    """Read an EPW / TMY3 / TMY2 file (optionally gzipped), chosen by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"weather file {path} does not exist; pass an EPW, TMY3 or TMY2 file")
    stem = path.name.lower().removesuffix(".gz")
    for reader in READERS:
        if stem.endswith(reader.suffixes):
            return reader().read(path)
    raise DataError(f"{path}: unknown weather format; use .epw, .tm2 or TMY3 .csv (optionally .gz)")


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _open_text(path: Path) -> io.StringIO:
    return io.StringIO(_read_bytes(path).decode("utf-8", errors="replace"))


def _station_name(meta: dict, path: Path) -> str:
    for key in ("city", "Name", "City"):
        if meta.get(key):
            return str(meta[key]).strip('"')
    return path.name
