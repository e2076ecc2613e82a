"""REST endpoints (mounted under /v1 by apps/api/server.py). Thin: validate, call the service, map
errors (DataError → 422, ModelError → 503)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile

from apps.api.deps import COMPUTE, ContextDep, require_scope
from apps.maintenance.schemas import MAX_UPLOAD_BYTES, ModelCardOut, PredictIn, PredictOut
from apps.maintenance.service import PredictionBatch, service_for
from core.errors import ConfigError, DataError, ModelError

router = APIRouter(prefix="/maintenance", tags=["maintenance"])
SubsetQuery = Annotated[str, Query(pattern=r"^FD00[1-4]$")]


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
    return _out(_call(service_for(ctx).predict_rows, rows, body.subset))


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
