"""REST schemas for BMS and grid systems (one model per direction)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from apps.validation import UtcDatetime

STORAGE_SOC_POINT = "Chilled_Water_Storage_State_Of_Charge_Sensor"
# Brick class names (https://brickschema.org) and Haystack tag sets (https://project-haystack.org)
# accepted as point keys -> (internal name, lowest valid, highest valid, SI unit).
POINTS: dict[str, tuple[str, float, float, str]] = {
    "Zone_Air_Temperature_Sensor": ("zone_temp_c", -10.0, 50.0, "degC"),
    "Outside_Air_Temperature_Sensor": ("outdoor_c", -50.0, 60.0, "degC"),
    "Zone_Air_Temperature_Setpoint": ("setpoint_c", 10.0, 35.0, "degC"),
    "Occupancy_Sensor": ("occupied", 0.0, 1.0, "1"),
    "Electric_Power_Sensor": ("power_w", 0.0, 1e8, "W"),
    # The chilled-water tank's state of charge as a fraction of its capacity (named in Brick's
    # pattern; not a Brick class). Optional: sent by buildings with a tank.
    STORAGE_SOC_POINT: ("storage_soc", 0.0, 1.0, "fraction of capacity"),
}
HAYSTACK_ALIASES = {
    "zone air temp sensor": "Zone_Air_Temperature_Sensor",
    "outside air temp sensor": "Outside_Air_Temperature_Sensor",
    "zone air temp sp": "Zone_Air_Temperature_Setpoint",
    "occupied sensor": "Occupancy_Sensor",
    "elec power sensor": "Electric_Power_Sensor",
}
SIGNAL_TYPES = ("GHG", "PRICE", "SIMPLE", "IMPORT_CAPACITY_LIMIT")
_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"


def canonical_point(name: str) -> str:
    """Brick class name for a Brick or Haystack point key; ValueError when unknown."""
    key = None
    for alias, brick in HAYSTACK_ALIASES.items():
        if sorted(alias.split()) == sorted(name.lower().split()):
            key = brick
    key = key or (name if name in POINTS else None)
    if key is None:
        raise ValueError(f"unknown point {name!r}; use one of {sorted(POINTS)} (Brick) or "
                         f"{sorted(HAYSTACK_ALIASES)} (Haystack)")
    return key


class TelemetryIn(BaseModel):
    """Point readings of one zone at one UTC instant, SI units."""

    model_config = ConfigDict(extra="forbid")
    zone: str = Field(pattern=_NAME)
    timestamp: UtcDatetime = Field(description="UTC instant, with offset (e.g. 2026-07-01T14:00:00Z)")
    points: dict[str, float] = Field(min_length=1, max_length=32)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("timestamp needs a UTC offset, e.g. 2026-07-01T14:00:00Z")
        return v



def validate_points(points: dict[str, float]) -> dict[str, float]:
    """Brick-keyed, range-checked points; DataError names the bad point (never echoes NaN into
    a JSON error body, which is why this runs in the service and not as a pydantic validator)."""
    from core.errors import DataError

    out = {}
    for name, value in points.items():
        try:
            brick = canonical_point(name)
        except ValueError as e:
            raise DataError(str(e)) from e
        _, low, high, unit = POINTS[brick]
        if not math.isfinite(value) or not low <= value <= high:
            raise DataError(f"{name} is not finite or outside the plausible range "
                            f"[{low}, {high}] {unit}; send SI units (degC, W, 0/1; a tank's "
                            "state of charge as a fraction 0..1)")
        out[brick] = float(value)
    return out


class TelemetryAck(BaseModel):
    """What a telemetry POST stored."""

    site: str
    zone: str
    stored_points: int
    timestamp: datetime


class Expected(BaseModel):
    """Modelled one-hour kWh / kgCO2 of the recommendation and of the naive schedule."""

    kwh: float
    kgco2: float
    baseline_kwh: float
    baseline_kgco2: float
    horizon_h: float
    baseline: str
    method: str


class StorageAction(BaseModel):
    """What the chilled-water tank should do for the next 15 minutes (recommendations for a
    building that declares a tank), or why the policy without the tank is served instead."""

    capacity_kwh_th: float
    action: Literal["charge", "discharge", "hold", "relinquish"] = Field(
        description="relinquish: the storage policy is not served; the BMS's own tank schedule rules")
    command: float | None = Field(
        description="share of the tank's rate limit (capacity / 4 h), > 0 charges, < 0 discharges")
    rate_kw_th: float | None = Field(description="|command| x rate limit, kW thermal")
    soc: float | None = Field(description="the state of charge the decision used (telemetry)")
    reason: str | None = None


class Recommendation(BaseModel):
    """A setpoint to write for the next 15 minutes, or "relinquish" (the BMS schedule rules)."""

    site: str
    zone: str
    action: Literal["write", "relinquish"]
    point: str
    setpoint_c: float | None
    policy_target_c: float | None = None
    unit: str = "degC"
    valid_from: datetime
    valid_until: datetime
    bacnet_priority: int
    constraints_applied: list[str]
    model_version: str
    issued: bool = Field(description="true when recorded by POST (the building acts on it)")
    reason: str | None = None
    expected: Expected | None
    storage: StorageAction | None = Field(
        default=None, description="present when the request declares a tank (storage_kwh > 0)")


class SavingsReport(BaseModel):
    """Expected (modelled) savings of the recommendations issued in a window."""

    site: str
    from_: datetime = Field(alias="from")
    to: datetime
    recommendations: int
    relinquished: int
    expected_kwh_saved: float
    expected_kgco2_saved: float
    method: str
    model_versions: list[str]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class IntervalPeriod(BaseModel):
    start: UtcDatetime
    duration: str = Field(description="ISO 8601 duration, e.g. PT1H or PT15M")

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-07-01T14:00:00Z")
        return v


class SignalPayload(BaseModel):
    type: Literal["GHG", "PRICE", "SIMPLE", "IMPORT_CAPACITY_LIMIT"]
    values: list[float] = Field(min_length=1, max_length=1)

    @field_validator("values")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) and x >= 0 for x in v):
            raise ValueError("payload values must be finite and >= 0")
        return v


class SignalInterval(BaseModel):
    id: int = Field(ge=0)
    intervalPeriod: IntervalPeriod | None = None  # noqa: N815 (OpenADR 3 field name)
    payloads: list[SignalPayload] = Field(min_length=1, max_length=4)


class SignalEventIn(BaseModel):
    """An OpenADR 3 event (subset): program, default interval period, intervals with payloads.
    Units: GHG g/kWh, PRICE USD/kWh, SIMPLE level 0-3, IMPORT_CAPACITY_LIMIT kW."""

    programID: str = Field(pattern=_NAME)  # noqa: N815
    eventName: str | None = Field(default=None, max_length=128)  # noqa: N815
    intervalPeriod: IntervalPeriod | None = None  # noqa: N815
    intervals: list[SignalInterval] = Field(min_length=1, max_length=96)


class SignalAck(BaseModel):
    """What a signal POST stored."""

    id: str
    program_id: str
    payloads_stored: int


class ActiveSignal(BaseModel):
    """One stored payload of an event, in force over [start, end)."""

    event_id: str
    program_id: str
    type: str
    value: float
    start: datetime
    end: datetime


class ActiveSignals(BaseModel):
    signals: list[ActiveSignal]


def parse_duration(text: str) -> timedelta:
    """ISO 8601 ``PT#H#M#S`` / ``P#D`` -> timedelta (1 s .. 7 days)."""
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    if not m or not any(m.groups()):
        raise ValueError(f"duration {text!r} is not ISO 8601 like PT1H / PT15M / P1D")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        delta = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    except OverflowError:  # e.g. P99999999999999999999D: past timedelta's range
        delta = timedelta.max
    if not timedelta(seconds=1) <= delta <= timedelta(days=7):
        raise ValueError("duration must be between 1 s and 7 days")
    return delta
