"""REST schemas (one per direction) with input limits. Values must be finite numbers."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from apps.maintenance.data import SENSOR_COLS, SETTING_COLS

N_VALUES = len(SETTING_COLS) + len(SENSOR_COLS)  # 24 values per cycle
MAX_ENGINES = 256
MAX_CYCLES = 1000  # longest C-MAPSS trajectory is 543 cycles
MAX_UPLOAD_BYTES = 4 * 1024 * 1024


class EngineWindowIn(BaseModel):
    """One engine's cycles in order: each row = 3 operational settings then sensors s1..s21."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    unit: int = Field(ge=0, le=10**9, description="engine id, echoed back")
    rows: list[list[float]] = Field(min_length=1, max_length=MAX_CYCLES,
                                    description=f"cycles × {N_VALUES} values, oldest first")

    @field_validator("rows", mode="before")
    @classmethod
    def _mark_non_finite(cls, rows: Any) -> Any:
        # NaN/inf parsed from lenient JSON would be echoed in the 422 body, which strict JSON
        # cannot encode; as the string "NaN" the finite-number check still rejects them.
        if not isinstance(rows, list):
            return rows
        return [[("NaN" if isinstance(v, float) and not math.isfinite(v) else v) for v in row]
                if isinstance(row, list) else row for row in rows]

    @field_validator("rows")
    @classmethod
    def _columns(cls, rows: list[list[float]]) -> list[list[float]]:
        for i, row in enumerate(rows):
            if len(row) != N_VALUES:
                raise ValueError(
                    f"row {i} has {len(row)} values; expected {N_VALUES} "
                    "(setting_1..3 then s1..s21, without unit and cycle)")
        return rows


class PredictIn(BaseModel):
    """A prediction request for one or many engines of one C-MAPSS subset."""

    model_config = ConfigDict(extra="forbid")

    subset: str = Field(default="FD001", pattern=r"^FD00[1-4]$")
    engines: list[EngineWindowIn] = Field(min_length=1, max_length=MAX_ENGINES)

    @field_validator("engines")
    @classmethod
    def _distinct_units(cls, engines: list[EngineWindowIn]) -> list[EngineWindowIn]:
        units = [e.unit for e in engines]
        if len(set(units)) != len(units):
            raise ValueError("engine units must be distinct within a request")
        return engines


class EnginePredictionOut(BaseModel):
    """RUL [cycles] at the engine's last cycle, its interval and the alarm."""

    unit: int
    cycles_seen: int
    rul_cycles: float
    rul_low_cycles: float
    rul_high_cycles: float
    p_fail_within_lead: float
    alarm: bool


class PredictOut(BaseModel):
    """Predictions, the model used and the measured energy of this request."""

    subset: str
    model: str
    model_reason: str
    predictions: list[EnginePredictionOut]
    energy_j: float
    energy_j_per_engine: float | None
    energy_method: str


class ModelCardOut(BaseModel):
    """The model card as stored in ``models/maintenance/``."""

    model_config = ConfigDict(extra="allow")

    app: str
    name: str
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
