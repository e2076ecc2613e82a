"""REST endpoints (mounted under /v1 by apps/api/server.py). Thin: validate, call the service, map
errors (DataError → 422, ModelError → 503)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

import numpy as np
from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile

from apps.api.deps import COMPUTE, ContextDep, require_scope
from apps.maintenance.data import frame_from_rows
from apps.maintenance.schemas import MAX_UPLOAD_BYTES, ModelCardOut, PredictIn, PredictOut
from core.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.maintenance.service import MaintenanceService, PredictionBatch

router = APIRouter(prefix="/maintenance", tags=["maintenance"])
SubsetQuery = Annotated[str, Query(pattern=r"^FD00[1-4]$")]


@lru_cache(maxsize=8)
def service_for(ctx: AppContext) -> MaintenanceService:
    """One service (and loaded model cache) per context."""
    from apps.maintenance.service import MaintenanceService

    return MaintenanceService(ctx)


def _call(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except (DataError, ConfigError) as e:
        raise HTTPException(422, str(e)) from e
    except ModelError as e:
        raise HTTPException(503, str(e)) from e


def _out(batch: PredictionBatch) -> PredictOut:
    return PredictOut.model_validate(batch.to_dict())


@router.post("/predict", response_model=PredictOut, dependencies=[COMPUTE])
def predict(ctx: ContextDep, body: PredictIn) -> PredictOut:
    """RUL, interval and alarm for each engine's last cycle; energy measured per request."""
    rows = [[e.unit, i + 1, *row] for e in body.engines for i, row in enumerate(e.rows)]
    frame = _call(frame_from_rows, np.asarray(rows, dtype=float), "request")
    return _out(_call(service_for(ctx).predict_frame, frame, body.subset))


@router.post("/batch", response_model=PredictOut, dependencies=[COMPUTE])
def batch(ctx: ContextDep, file: Annotated[UploadFile, File()],
          subset: SubsetQuery = "FD001") -> PredictOut:
    """CSV/text upload in NASA's format: 26 columns (unit, cycle, 3 settings, 21 sensors)."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"upload over {MAX_UPLOAD_BYTES} bytes; split it into batches")
    return _out(_call(service_for(ctx).predict_csv, content, subset))


@router.get("/model", response_model=ModelCardOut,
            dependencies=[Depends(require_scope("read"))])
def model(ctx: ContextDep, subset: SubsetQuery = "FD001") -> ModelCardOut:
    """The model card: metrics, gate report, footprint, protocol."""
    return ModelCardOut.model_validate(_call(service_for(ctx).model_card, subset))
