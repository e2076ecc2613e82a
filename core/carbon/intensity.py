"""The value every carbon source returns: a grid intensity with its provenance attached."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import DataError

SCOPES = ("lifecycle", "direct")
GASES = ("CO2", "CO2e")
KINDS = ("average", "marginal")
METHODS = ("annual_table", "hourly_csv", "live")


@dataclass(frozen=True)
class Intensity:
    """Grid carbon intensity in gCO2(e)/kWh with where it came from.

    ``scope`` says whether upstream (lifecycle) emissions are included or only stack (direct)
    emissions; ``gas`` whether other greenhouse gases are converted to CO2e; ``kind`` average vs
    marginal; ``method`` which kind of source produced it. ``at`` is the hour the value applies to
    (UTC), or None for an annual figure.
    """

    zone: str
    g_per_kwh: float
    source: str
    year: int
    scope: str
    gas: str
    kind: str
    method: str
    at: datetime | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.g_per_kwh) or self.g_per_kwh < 0:
            raise DataError(
                f"intensity for {self.zone} is {self.g_per_kwh!r} g/kWh; it must be a finite "
                "number >= 0 (check the source data)"
            )
        _check_label("scope", self.scope, SCOPES)
        _check_label("gas", self.gas, GASES)
        _check_label("kind", self.kind, KINDS)
        _check_label("method", self.method, METHODS)
        if self.at is not None and self.at.tzinfo is None:
            raise DataError("Intensity.at must be timezone-aware (UTC); got a naive datetime")

    @property
    def label(self) -> str:
        """Short human label, e.g. ``"56 g/kWh CO2e lifecycle average (OWID, 2023)"``."""
        return (
            f"{self.g_per_kwh:.0f} g/kWh {self.gas} {self.scope} {self.kind} "
            f"({self.source}, {self.year})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``at`` as ISO-8601 or None)."""
        out = asdict(self)
        out["at"] = self.at.isoformat() if self.at is not None else None
        return out


def _check_label(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DataError(f"Intensity.{field}={value!r} is not one of {allowed}")


def as_utc(at: datetime) -> datetime:
    """A timezone-aware datetime in UTC; naive datetimes are rejected (no silent local time)."""
    if at.tzinfo is None:
        raise DataError(
            f"datetime {at.isoformat()} has no timezone; pass a UTC-aware datetime "
            "(e.g. datetime(..., tzinfo=UTC))"
        )
    return at.astimezone(UTC)


class IntensitySource(ABC):
    """Anything that answers "what was/is the grid intensity of this zone at this time"."""

    zone: str

    @abstractmethod
    def intensity(self, at: datetime | None = None) -> Intensity:
        """Intensity at ``at`` (UTC-aware) or, for None, the source's annual / latest value."""

    def describe(self) -> str:
        """One line for logs and the CLI: zone, method and source."""
        i = self.intensity(None)
        return f"{self.zone}: {i.label} [{i.method}]"
