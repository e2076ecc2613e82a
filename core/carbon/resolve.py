"""Pick the intensity source for a zone: an hourly CSV if given, else the annual table."""

from __future__ import annotations

from pathlib import Path

from core.carbon.annual import HOW_TO_SET_ZONE, AnnualTable, normalise_zone
from core.carbon.intensity import IntensitySource
from core.errors import UnknownZoneError


def resolve_source(
    zone: str | None,
    hourly_csv: str | Path | None = None,
    *,
    table: AnnualTable | None = None,
) -> IntensitySource:
    """The source for ``zone``: ``HourlySeries`` from ``hourly_csv`` if given, else the annual table.

    Raises UnknownZoneError when the zone is unset or unknown; the message says how to set it
    (GREENSTACK_ZONE, --zone, or this argument). There is no default zone and no IP geolocation.
    """
    if hourly_csv is not None:
        from core.carbon.hourly import HourlySeries

        if zone is None or not zone.strip():
            # The file name may name the zone (``CISO_NG_avgCI_2022.csv.gz``); otherwise it raises.
            return HourlySeries.from_csv(hourly_csv, zone=None)
        return HourlySeries.from_csv(hourly_csv, zone=normalise_zone(zone))
    if zone is None or not zone.strip():
        raise UnknownZoneError(f"No grid zone is set. {HOW_TO_SET_ZONE}")
    return (table or AnnualTable.load()).source(zone)
