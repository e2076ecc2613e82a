"""REST for building-management and grid systems, mounted under /v1 (see apps.api.server)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from apps.api.deps import ContextDep, require_scope
from apps.cooling.schemas import (
    ActiveSignals,
    Recommendation,
    SavingsReport,
    SignalAck,
    SignalEventIn,
    TelemetryAck,
    TelemetryIn,
)
from apps.cooling.service import service_for
from apps.validation import UtcDatetime
from core.errors import ConfigError, DataError, ModelError

router = APIRouter(prefix="/cooling", tags=["cooling"])
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
CONTROL = [Depends(require_scope("control"))]
Offset = Annotated[float, Query(ge=-12, le=14, description="the site's standard time minus UTC, h")]
Tank = Annotated[float, Query(ge=0, le=1e6, description=(
    "the zone's chilled-water tank, kWh thermal (0: none); with a tank send its state of charge "
    "as Chilled_Water_Storage_State_Of_Charge_Sensor telemetry"))]
READ = [Depends(require_scope("read"))]


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except DataError as e:
        raise HTTPException(422, str(e)) from e
    except (ConfigError, ModelError) as e:
        raise HTTPException(409, str(e)) from e


@router.post("/sites/{site}/telemetry", dependencies=CONTROL, status_code=201,
             response_model=TelemetryAck)
def post_telemetry(site: Name, body: TelemetryIn, ctx: ContextDep) -> dict[str, Any]:
    """Point readings keyed by Brick class (or Haystack tags), SI units, UTC timestamp."""
    return _call(service_for(ctx).bms.ingest, site, body)


@router.get("/sites/{site}/zones/{zone}/recommendation", dependencies=READ,
            response_model=Recommendation)
def get_recommendation(site: Name, zone: Name, ctx: ContextDep, utc_offset_h: Offset = 0.0,
                       storage_kwh: Tank = 0.0) -> dict[str, Any]:
    """What would be issued now (a read: records nothing). Setpoint for the next 15 minutes
    (clamped, rate-limited, expiring) or "relinquish". ``utc_offset_h``: the site's
    standard-time offset (schedules and tariffs are local). ``storage_kwh``: the zone's tank;
    ``storage`` in the response then says what it should do, or why it is left to the BMS."""
    return _call(service_for(ctx).bms.recommend, site, zone, None, utc_offset_h, storage_kwh)


@router.post("/sites/{site}/zones/{zone}/recommendation", dependencies=CONTROL, status_code=201,
             response_model=Recommendation)
def issue_recommendation(site: Name, zone: Name, ctx: ContextDep, utc_offset_h: Offset = 0.0,
                         storage_kwh: Tank = 0.0) -> dict[str, Any]:
    """Issue the recommendation the building will write: recorded, so it starts the next
    rate-limit step and counts in the savings report."""
    return _call(service_for(ctx).bms.issue, site, zone, None, utc_offset_h, storage_kwh)


@router.post("/signals", dependencies=CONTROL, status_code=201, response_model=SignalAck)
def post_signal(body: SignalEventIn, ctx: ContextDep) -> dict[str, Any]:
    """An OpenADR-3-shaped event with GHG, PRICE, SIMPLE or IMPORT_CAPACITY_LIMIT payloads."""
    return _call(service_for(ctx).bms.add_signal, body)


@router.get("/signals/active", dependencies=READ, response_model=ActiveSignals)
def get_active_signals(ctx: ContextDep, at: UtcDatetime | None = None) -> dict[str, Any]:
    """Signals in force at ``at`` (default now)."""
    if at is not None and at.tzinfo is None:
        raise HTTPException(422, "'at' needs a UTC offset, e.g. 2026-07-01T14:00:00Z")
    return {"signals": _call(service_for(ctx).bms.active_signals, at)}


@router.get("/sites/{site}/reports/savings", dependencies=READ, response_model=SavingsReport)
def get_savings(site: Name, ctx: ContextDep,
                start: Annotated[UtcDatetime, Query(alias="from")],
                end: Annotated[UtcDatetime, Query(alias="to")]) -> dict[str, Any]:
    """Expected savings of the recommendations issued in [from, to) (modelled, labelled)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "'from' and 'to' need a UTC offset, e.g. 2026-07-01T00:00:00Z")
    return _call(service_for(ctx).bms.savings_report, site, start, end)
