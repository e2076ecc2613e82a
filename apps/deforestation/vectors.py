"""Loss patches as polygons: ``loss.geojson`` (EPSG:4326, RFC 7946) and ``loss.gpkg`` (the
raster's own CRS), what GIS and forest-monitoring tools load.

One feature per loss patch: the 8-connected clusters that the minimum mapping unit judged (so
every patch left in the loss map is one feature). Each carries its geodesic hectares (the sum of
its pixels' geodesic areas, exactly as the accounting sums them), CO2 above-ground and with roots
with the low/high range (IPCC default biomass for the job's continent, the accounting's factors),
its mean confidence and the two acquisition dates. Outlines come from
``rasterio.features.shapes`` (pixel edges, 4-connected pieces) dissolved per patch with shapely;
pixels that touch only at a corner make a MultiPolygon.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from apps.deforestation.area import PixelAreaGrid
from apps.deforestation.carbon_stock import BiomassSums, co2_from_biomass, default_agb
from apps.deforestation.change import LOSS

GEOJSON_NAME, GPKG_NAME, GPKG_LAYER = "loss.geojson", "loss.gpkg", "loss"
COORD_DECIMALS = 7  # ~1 cm in latitude: far below a 10-m pixel, keeps files small


@dataclass(frozen=True)
class LossPatch:
    """One loss patch; ``geometry`` is a shapely (Multi)Polygon in the raster's CRS."""

    patch_id: int
    geometry: Any
    area_ha: float
    loss_pixels: int
    co2_t_above_ground: float
    co2_t_above_ground_low: float
    co2_t_above_ground_high: float
    co2_t_with_roots: float
    co2_t_with_roots_low: float
    co2_t_with_roots_high: float
    mean_confidence: float
    date_before: str | None
    date_after: str | None

    def properties(self) -> dict[str, Any]:
        """Attribute table row (everything but the geometry)."""
        d = dict(self.__dict__)
        d.pop("geometry")
        return d


@dataclass(frozen=True)
class VectorOutputs:
    """Paths written and the number of patches."""

    geojson: Path
    gpkg: Path
    n_patches: int


def _outlines(labels: np.ndarray, transform: Any) -> dict[int, Any]:
    import shapely
    from rasterio.features import shapes
    from shapely.geometry import shape

    parts: dict[int, list[Any]] = {}
    for geom, value in shapes(labels, mask=labels > 0, connectivity=4, transform=transform):
        parts.setdefault(int(value), []).append(shape(geom))
    return {k: shapely.union_all(v) if len(v) > 1 else v[0] for k, v in parts.items()}


def loss_patches(codes: np.ndarray, confidence: np.ndarray, transform: Any,
                 grid: PixelAreaGrid, continent: str,
                 dates: tuple[str | None, str | None]) -> list[LossPatch]:
    """Patches of ``codes == LOSS`` with area, CO2, mean confidence (0–1) and dates."""
    labels, n = ndimage.label(codes == LOSS, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    rows, cols = codes.shape
    area_ha = ndimage.sum(grid.per_pixel(0, 0, rows, cols), labels, index) / 10_000.0
    pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    conf = ndimage.mean(confidence, labels, index)
    outlines = _outlines(labels.astype(np.int32), transform)
    agb = default_agb(continent)
    out = []
    for i in range(n):
        sums = BiomassSums(0.0, area_ha[i] * agb.value, area_ha[i] * agb.low,
                           area_ha[i] * agb.high)
        above, roots = co2_from_biomass(sums, False), co2_from_biomass(sums, True)
        out.append(LossPatch(
            int(index[i]), outlines[int(index[i])], float(area_ha[i]), int(pixels[i]),
            above.central_t, above.low_t, above.high_t, roots.central_t, roots.low_t,
            roots.high_t, float(conf[i]), dates[0], dates[1]))
    return out


@functools.lru_cache(maxsize=8)
def _lonlat_transformer(crs_wkt: str) -> Any:
    """A transformer to EPSG:4326 (lon, lat), or None when the CRS already is it."""
    from pyproj import CRS, Transformer

    src = CRS.from_user_input(crs_wkt)
    if src.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return Transformer.from_crs(src, "EPSG:4326", always_xy=True)


def to_lonlat(geometry: Any, crs: Any) -> Any:
    """``geometry`` from ``crs`` to EPSG:4326 in lon/lat order, exteriors counter-clockwise."""
    import shapely

    t = _lonlat_transformer(crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
    if t is not None:
        geometry = shapely.transform(geometry, lambda x, y: t.transform(x, y), interleaved=False)
    return shapely.orient_polygons(geometry, exterior_cw=False)


def _rounded(coords: Any) -> Any:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return [round(float(c), COORD_DECIMALS) for c in coords]
    return [_rounded(c) for c in coords]


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def feature_collection(patches: list[LossPatch], crs: Any,
                       meta: dict[str, Any]) -> dict[str, Any]:
    """RFC 7946 FeatureCollection in EPSG:4326; ``meta`` goes into a foreign member."""
    from shapely.geometry import mapping

    feats = []
    for p in patches:
        geom = mapping(to_lonlat(p.geometry, crs))
        feats.append({"type": "Feature", "id": p.patch_id,
                      "geometry": {"type": geom["type"],
                                   "coordinates": _rounded(geom["coordinates"])},
                      "properties": p.properties()})
    return {"type": "FeatureCollection", "greenstack": meta, "features": feats}


_INT_FIELDS = ("patch_id", "loss_pixels")


def _column(patches: list[LossPatch], name: str) -> np.ndarray:
    values = [getattr(p, name) for p in patches]
    if name.startswith("date_"):
        return np.array([v or "" for v in values], dtype=object)
    return np.array(values, dtype=np.int64 if name in _INT_FIELDS else np.float64)


def write_gpkg(patches: list[LossPatch], crs: Any, path: Path) -> Path:
    """GeoPackage layer ``loss`` (MultiPolygon, the raster's CRS) with the same attributes."""
    import shapely
    from pyogrio.raw import write

    fields = [name for name in LossPatch.__dataclass_fields__ if name != "geometry"]
    geoms = np.array([shapely.to_wkb(shapely.multipolygons(shapely.get_parts(p.geometry)))
                      for p in patches], dtype=object)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    write(str(tmp), geoms, [_column(patches, f) for f in fields], fields, layer=GPKG_LAYER,
          driver="GPKG", geometry_type="MultiPolygon",
          crs=crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
    os.replace(tmp, path)
    return path


def write_loss_vectors(out_dir: Path, codes: np.ndarray, confidence: np.ndarray, transform: Any,
                       crs: Any, grid: PixelAreaGrid, continent: str,
                       dates: tuple[str | None, str | None],
                       meta: dict[str, Any]) -> VectorOutputs:
    """Write ``loss.geojson`` and ``loss.gpkg`` into ``out_dir`` (each atomically)."""
    patches = loss_patches(codes, confidence, transform, grid, continent, dates)
    agb = default_agb(continent)
    meta = {**meta, "crs": "EPSG:4326 (RFC 7946: lon, lat)", "source_crs": str(crs),
            "area": "geodesic hectares: sum of the patch's pixel areas on the WGS84 ellipsoid",
            "co2": "area × IPCC default AGB × (1 + root:shoot) × carbon fraction × 44/12; low/"
                   "high use the low/high AGB and carbon fraction",
            "default_agb_t_per_ha": agb.to_dict(),
            "mean_confidence": "mean over the patch of P(forest before) × P(non-forest after)",
            "dates": "acquisition dates as the products state them; null where none is stated"}
    geojson = Path(out_dir) / GEOJSON_NAME
    _atomic_text(geojson, json.dumps(feature_collection(patches, crs, meta)))
    gpkg = write_gpkg(patches, crs, Path(out_dir) / GPKG_NAME)
    return VectorOutputs(geojson, gpkg, len(patches))
