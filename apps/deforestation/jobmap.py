"""What the interactive map of a finished job shows, built offline from the job's own files.

No tile server is reachable, so the imagery itself is the base layer: each date is rendered to an
RGBA PNG in memory (2–98 % stretch shared by both dates, nodata transparent), warped onto Web
Mercator (EPSG:3857, the map's own projection) so that a bitmap stretched over its lon/lat bounds
lines up pixel for pixel, and carried as a ``data:`` URL. The loss polygons are the job's
``loss.geojson``; each feature gets a one-line summary for the tooltip.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation.batch import JOB_RECORD
from apps.deforestation.rasters import RasterSource
from apps.deforestation.vectors import GEOJSON_NAME
from core.errors import DataError

MAX_SIDE_PX = 1024  # imagery is decimated to at most this many pixels a side for the browser


@dataclass(frozen=True)
class DateLayer:
    """One date's imagery: a PNG ``data:`` URL and its [west, south, east, north] in degrees."""

    label: str
    date: str | None
    png_data_url: str
    bounds_lonlat: tuple[float, float, float, float]


@dataclass(frozen=True)
class JobMap:
    """Layers of a finished job's map and a view that frames them."""

    before: DateLayer
    after: DateLayer
    loss: dict[str, Any]
    centre_lonlat: tuple[float, float]
    zoom: float

    @property
    def n_patches(self) -> int:
        return len(self.loss["features"])


def _reopen(side: dict[str, Any]) -> RasterSource:
    source = side["source"]
    src = {k: Path(v) for k, v in source.items()} if isinstance(source, dict) else Path(source)
    return RasterSource(src, side["sensor"])


def _rgb(src: RasterSource) -> tuple[np.ndarray, np.ndarray, Any]:
    """Decimated (rows, cols, 3) red-green-blue reflectance, validity and its transform."""
    from affine import Affine

    scene = src.read()
    step = max(1, math.ceil(max(src.shape) / MAX_SIDE_PX))
    order = [src.bands.index(b) for b in ("red", "green", "blue")]
    rgb = np.moveaxis(scene.data[order, ::step, ::step], 0, -1)
    return rgb, scene.valid[::step, ::step], src.transform * Affine.scale(step)


def _stretch(rgbs: list[np.ndarray], valids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel 2nd and 98th percentiles over the valid pixels of both dates."""
    values = np.concatenate([r[v] for r, v in zip(rgbs, valids, strict=True)])  # (n, 3)
    if values.shape[0] == 0:
        return np.zeros(3), np.ones(3)
    lo, hi = np.percentile(values, [2, 98], axis=0)
    return lo, np.maximum(hi, lo + 1e-6)


def to_display(rgb: np.ndarray, valid: np.ndarray, lo: np.ndarray,
               hi: np.ndarray) -> np.ndarray:
    """(rows, cols, 4) uint8 RGBA: stretched colour, alpha 0 where nodata."""
    rgba = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(np.clip((rgb - lo) / (hi - lo), 0, 1) * 255)
    rgba[..., 3] = np.where(valid, 255, 0)
    return rgba


def _to_mercator_png(rgba: np.ndarray, transform: Any,
                     crs: Any) -> tuple[str, tuple[float, float, float, float]]:
    from PIL import Image
    from pyproj import Transformer
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    rows, cols = rgba.shape[:2]
    left, top = transform * (0, 0)
    right, bottom = transform * (cols, rows)
    dst_t, w, h = calculate_default_transform(crs, "EPSG:3857", cols, rows, left=left,
                                              bottom=bottom, right=right, top=top)
    out = np.zeros((4, h, w), dtype=np.uint8)
    reproject(np.moveaxis(rgba, -1, 0), out, src_transform=transform, src_crs=crs,
              dst_transform=dst_t, dst_crs="EPSG:3857", resampling=Resampling.nearest,
              src_nodata=None)
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(out, 0, -1), mode="RGBA").save(buf, format="PNG", optimize=True)
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    west, north = to_ll.transform(*(dst_t * (0, 0)))
    east, south = to_ll.transform(*(dst_t * (w, h)))
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return url, (west, south, east, north)


def _zoom(bounds: tuple[float, ...], width_px: int = 680, height_px: int = 480) -> float:
    """Web-Mercator zoom at which ``bounds`` fit in ``width_px`` × ``height_px`` (deck.gl's
    world is 512 px wide at zoom 0)."""
    west, south, east, north = bounds
    y = [math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) for lat in (south, north)]
    x_span, y_span = max(east - west, 1e-9), max(math.degrees(y[1] - y[0]), 1e-9)
    return math.log2(min(width_px / x_span, height_px / y_span) * 360 / 512)


def _label(feature: dict[str, Any]) -> dict[str, Any]:
    """Add the tooltip's lines (``area``, ``co2_above``, ``co2_roots``, ``dates``) as text."""
    p = feature["properties"]
    p["area"] = f"{p['area_ha']:,.2f} ha (geodesic)"
    p["co2_above"] = (f"CO2 above-ground {p['co2_t_above_ground']:,.0f} t "
                      f"({p['co2_t_above_ground_low']:,.0f}–{p['co2_t_above_ground_high']:,.0f})")
    p["co2_roots"] = (f"CO2 with roots {p['co2_t_with_roots']:,.0f} t "
                      f"({p['co2_t_with_roots_low']:,.0f}–{p['co2_t_with_roots_high']:,.0f})")
    p["dates"] = (f"{p['date_before'] or 'date not stated'} → "
                  f"{p['date_after'] or 'date not stated'}; mean confidence "
                  f"{p['mean_confidence']:.2f}")
    return feature


def job_map(out_dir: Path) -> JobMap:
    """Map layers of the finished job in ``out_dir``; DataError says what is missing.

    Built once per job version (the page reruns on every click; rendering reads both scenes):
    kept for the last few jobs, keyed by the job's files and their modification times.
    """
    out_dir = Path(out_dir)
    record_path, geojson = out_dir / JOB_RECORD, out_dir / GEOJSON_NAME
    if not (record_path.exists() and geojson.exists()):
        raise DataError(f"{out_dir} has no {JOB_RECORD} and {GEOJSON_NAME}: the job is not "
                        "finished or was made before jobs wrote them; rerun it")
    return _job_map(str(out_dir.resolve()), record_path.stat().st_mtime_ns,
                    geojson.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _job_map(out: str, _record_mtime_ns: int, _geojson_mtime_ns: int) -> JobMap:
    out_dir = Path(out)
    record_path, geojson = out_dir / JOB_RECORD, out_dir / GEOJSON_NAME
    record = json.loads(record_path.read_text())
    sources = [_reopen(record["before"]), _reopen(record["after"])]
    reads = [_rgb(s) for s in sources]
    lo, hi = _stretch([r[0] for r in reads], [r[1] for r in reads])
    layers = []
    for name, src, (rgb, valid, transform) in zip(("before", "after"), sources, reads,
                                                   strict=True):
        url, bounds = _to_mercator_png(to_display(rgb, valid, lo, hi), transform, src.crs)
        layers.append(DateLayer(name, record[name].get("date"), url, bounds))
    loss = json.loads(geojson.read_text())
    loss["features"] = [_label(f) for f in loss["features"]]
    west, south, east, north = layers[1].bounds_lonlat
    return JobMap(layers[0], layers[1], loss, ((west + east) / 2, (south + north) / 2),
                  _zoom(layers[1].bounds_lonlat))
