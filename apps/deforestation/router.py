"""REST endpoints (mounted under /v1 by apps/api/server.py). Thin: validate, call the service, map
errors (unknown job → 404, DataError/ConfigError → 422, ModelError → 503)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse

from apps.api.deps import ContextDep, require_scope
from apps.deforestation.schemas import JobPublic
from apps.deforestation.service import service_for
from core.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    from apps.context import AppContext

router = APIRouter(prefix="/deforestation", tags=["deforestation"])
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
GEOJSON_MEDIA_TYPE = "application/geo+json"  # RFC 7946, section 12


def _call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kwargs)
    except (DataError, ConfigError) as e:
        raise HTTPException(422, str(e)) from e
    except ModelError as e:
        raise HTTPException(503, str(e)) from e


def _read(upload: UploadFile) -> bytes:
    content = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"{upload.filename} exceeds {MAX_UPLOAD_BYTES} bytes; use paths")
    return content


@router.post("/jobs", response_model=JobPublic, status_code=202,
             dependencies=[Depends(require_scope("jobs"))])
def create_job(
    ctx: ContextDep,
    before: Annotated[str | None, Form(description="server path (file or band folder)")] = None,
    after: Annotated[str | None, Form()] = None,
    before_file: Annotated[UploadFile | None, File(description="multi-band raster")] = None,
    after_file: Annotated[UploadFile | None, File()] = None,
    sensor: Annotated[str, Form()] = "sentinel2_l1c",
    tile_px: Annotated[int, Form(ge=32, le=4096)] = 256,
    overlap_px: Annotated[int, Form(ge=0, le=512)] = 32,
    mmu_ha: Annotated[float, Form(ge=0, le=1000)] = 0.5,
) -> JobPublic:
    """Start a loss-mapping job on two co-registered rasters: server paths or two uploads."""
    svc = service_for(ctx)
    opts = {"sensor": sensor, "tile_px": tile_px, "overlap_px": overlap_px, "mmu_ha": mmu_ha}
    if before_file is not None and after_file is not None:
        job_id = _call(svc.submit_uploads, _read(before_file), _read(after_file),
                       before_name=before_file.filename, after_name=after_file.filename, **opts)
    elif before and after:
        job_id = _call(svc.submit_paths, before, after, **opts)
    else:
        raise HTTPException(422, "send both 'before' and 'after' (server paths) or both "
                                 "'before_file' and 'after_file' (uploads)")
    return JobPublic.model_validate(svc.job_status(job_id))


def _status(ctx: AppContext, job_id: str) -> dict[str, Any]:
    try:
        return service_for(ctx).job_status(job_id)
    except DataError as e:
        raise HTTPException(404, str(e)) from e


@router.get("/jobs/{job_id}", response_model=JobPublic,
            dependencies=[Depends(require_scope("read"))])
def get_job(ctx: ContextDep, job_id: str) -> JobPublic:
    """Status, progress (tiles done/total) and, when done, stats with hectares and CO2."""
    return JobPublic.model_validate(_status(ctx, job_id))


@router.get("/jobs/{job_id}/lossmap", response_class=FileResponse,
            dependencies=[Depends(require_scope("read"))],
            responses={200: {"content": {COG_MEDIA_TYPE: {}}}})
def get_lossmap(ctx: ContextDep, job_id: str) -> FileResponse:
    """The loss map as a COG (uint8: 0 no loss, 1 loss, 255 unknown/cloud/nodata)."""
    _status(ctx, job_id)
    path = _call(service_for(ctx).job_lossmap, job_id)
    return FileResponse(path, media_type=COG_MEDIA_TYPE, filename=f"lossmap-{job_id}.tif")


@router.get("/jobs/{job_id}/loss.geojson", response_class=FileResponse,
            dependencies=[Depends(require_scope("read"))],
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}})
def get_loss_geojson(ctx: ContextDep, job_id: str) -> FileResponse:
    """Loss patches as GeoJSON (EPSG:4326, RFC 7946): one feature per patch above the minimum
    mapping unit with geodesic hectares, CO2 (above-ground, with roots, low/high), mean
    confidence and both dates."""
    _status(ctx, job_id)
    path = _call(service_for(ctx).job_loss_geojson, job_id)
    return FileResponse(path, media_type=GEOJSON_MEDIA_TYPE, filename=f"loss-{job_id}.geojson")
