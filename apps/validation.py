"""Input types every surface shares: instants that cannot overflow when converted or shifted.

A datetime such as ``9999-12-31T23:59:59-23:59`` or ``0001-01-01T00:00:00+05:00`` is valid ISO
8601 but leaves Python's datetime range once converted to UTC or moved by a validity window; such
values are refused at the edge with a message that says the accepted range.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

# Instants the suite accepts from clients: generous for building and grid data, and far enough
# from datetime.min/max that adding a validity window or a 7-day interval cannot overflow.
EARLIEST_UTC = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_UTC = datetime(2200, 1, 1, tzinfo=UTC)


def utc_instant(value: datetime) -> datetime:
    """``value`` if it has a UTC offset and lies in [EARLIEST_UTC, LATEST_UTC); else ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a UTC offset, e.g. 2026-07-01T14:00:00Z")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_UTC <= utc < LATEST_UTC:
        raise ValueError(f"must lie between {EARLIEST_UTC:%Y-%m-%d} and {LATEST_UTC:%Y-%m-%d} "
                         "UTC once its offset is applied")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(utc_instant)]
"""An aware datetime within [EARLIEST_UTC, LATEST_UTC) UTC (query parameters and bodies)."""
