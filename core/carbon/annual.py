"""The shipped per-zone annual intensity table (``annual_intensity.csv``), one source per row.

Columns: zone, g_per_kwh, source, year, scope, gas, kind, name. Rebuilt from its sources by
``python -m core.carbon.build_annual_table``; see docs/carbon.md for the sources and their scopes.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from core.carbon.intensity import Intensity, IntensitySource
from core.errors import DataError, UnknownZoneError

TABLE_PATH = Path(__file__).with_name("annual_intensity.csv")
HOW_TO_SET_ZONE = (
    "Set it with the GREENSTACK_ZONE environment variable, the --zone flag, or the zone= "
    "constructor argument (e.g. FR, DE, US-CISO; `greenstack zones` lists them). "
    "greenstack never guesses a zone from your IP address and has no default zone."
)


@dataclass(frozen=True)
class ZoneInfo:
    """One row of the annual table."""

    zone: str
    name: str
    intensity: Intensity


class AnnualTable:
    """Annual average intensity per zone, each with its own source, year and scope."""

    def __init__(self, rows: dict[str, ZoneInfo], path: Path | None = None) -> None:
        self._rows = rows
        self.path = path

    @classmethod
    def load(cls, path: str | Path | None = None) -> AnnualTable:
        """Read the table (default: the shipped one). Raises DataError on a malformed file."""
        path = Path(path) if path is not None else TABLE_PATH
        if path == TABLE_PATH:
            return _shipped()
        return cls(_read_rows(path), path)

    @property
    def zones(self) -> tuple[ZoneInfo, ...]:
        """All zones, sorted by id."""
        return tuple(self._rows[z] for z in sorted(self._rows))

    def __contains__(self, zone: object) -> bool:
        return isinstance(zone, str) and normalise_zone(zone) in self._rows

    def lookup(self, zone: str | None) -> Intensity:
        """The annual intensity of ``zone``; UnknownZoneError (with suggestions) otherwise."""
        if zone is None or not zone.strip():
            raise UnknownZoneError(f"No grid zone is set. {HOW_TO_SET_ZONE}")
        key = normalise_zone(zone)
        if key not in self._rows:
            raise UnknownZoneError(f"Unknown grid zone {zone!r}.{self._suggest(zone)} {HOW_TO_SET_ZONE}")
        return self._rows[key].intensity

    def source(self, zone: str | None) -> AnnualSource:
        """An :class:`IntensitySource` for one zone of this table."""
        return AnnualSource(self.lookup(zone))

    def _suggest(self, zone: str) -> str:
        by_name = {info.name.lower(): z for z, info in self._rows.items()}
        hits = difflib.get_close_matches(zone.upper(), list(self._rows), n=3, cutoff=0.6)
        hits += [by_name[n] for n in difflib.get_close_matches(zone.lower(), list(by_name), n=3)]
        hits = list(dict.fromkeys(hits))[:4]
        return f" Did you mean {', '.join(hits)}?" if hits else ""


class AnnualSource(IntensitySource):
    """One zone's annual figure; the same value whatever ``at`` is (method annual_table)."""

    def __init__(self, annual: Intensity) -> None:
        self.zone = annual.zone
        self._annual = annual

    def intensity(self, at: datetime | None = None) -> Intensity:
        """The annual average; ``at`` is accepted for the interface and does not change it."""
        return self._annual


def normalise_zone(zone: str) -> str:
    """Upper-case and strip a zone id (``" us-ciso "`` → ``"US-CISO"``)."""
    return zone.strip().upper()


@lru_cache(maxsize=1)
def _shipped() -> AnnualTable:
    return AnnualTable(_read_rows(TABLE_PATH), TABLE_PATH)


def _read_rows(path: Path) -> dict[str, ZoneInfo]:
    if not path.is_file():
        raise DataError(f"annual intensity table not found: {path}")
    rows: dict[str, ZoneInfo] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for line_no, rec in enumerate(csv.DictReader(fh), start=2):
            info = _row(rec, path, line_no)
            if info.zone in rows:
                raise DataError(f"{path.name} line {line_no}: zone {info.zone} appears twice")
            rows[info.zone] = info
    if not rows:
        raise DataError(f"{path} has no zones")
    return rows


def _row(rec: dict[str, str], path: Path, line_no: int) -> ZoneInfo:
    try:
        zone = normalise_zone(rec["zone"])
        intensity = Intensity(
            zone=zone,
            g_per_kwh=float(rec["g_per_kwh"]),
            source=rec["source"],
            year=int(rec["year"]),
            scope=rec["scope"],
            gas=rec["gas"],
            kind=rec["kind"],
            method="annual_table",
        )
    except (KeyError, TypeError, ValueError, DataError) as e:
        raise DataError(f"{path.name} line {line_no}: malformed row ({e})") from e
    return ZoneInfo(zone=zone, name=rec.get("name") or zone, intensity=intensity)


def zones(table: AnnualTable | None = None) -> tuple[ZoneInfo, ...]:
    """Every zone the annual table knows, sorted by id."""
    return (table or AnnualTable.load()).zones
