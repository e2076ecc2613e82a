"""Geodesic pixel areas on the WGS84 ellipsoid, for any CRS (never the nominal pixel size).

World Mercator pixels of "30 m" cover far less than 900 m² away from the equator and degree
pixels shrink with latitude, so every area here comes from ``pyproj.Geod.polygon_area_perimeter``
on the pixel outline transformed to longitude/latitude.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import DataError

M2_PER_HA = 10_000.0
_EDGE_POINTS = 8  # densify block edges so curved outlines (UTM far from its meridian) are followed


@dataclass(frozen=True)
class PixelAreaGrid:
    """Per-pixel area in m² for a grid, constant within each (row, column block).

    ``area_m2[row, block]`` is the mean pixel area of columns ``block*col_block …`` of ``row``.
    """

    area_m2: np.ndarray
    col_block: int

    def per_pixel(self, row_off: int, col_off: int, rows: int, cols: int) -> np.ndarray:
        """Area in m² of every pixel in a window, shape (rows, cols)."""
        blocks = (np.arange(col_off, col_off + cols) // self.col_block)
        return self.area_m2[row_off:row_off + rows][:, blocks]

    def sum_ha(self, mask: np.ndarray, row_off: int = 0, col_off: int = 0) -> float:
        """Hectares covered by True pixels of ``mask`` placed at (row_off, col_off)."""
        rows, cols = mask.shape
        return float((self.per_pixel(row_off, col_off, rows, cols) * mask).sum() / M2_PER_HA)


def pixel_area_grid(transform: Any, crs: Any, rows: int, cols: int,
                    col_block: int = 256) -> PixelAreaGrid:
    """Geodesic area of pixels of a north-up grid; one polygon per (row, column block).

    Grids are computed once per process and reused (read-only arrays): batch jobs over the same
    scene, and the gate's repeated end-to-end runs, would otherwise redo the same geodesy.
    """
    if crs is None:
        raise DataError("the raster has no CRS, so pixel areas cannot be computed; assign one "
                        "(e.g. gdal_edit.py -a_srs EPSG:xxxx) first")
    if transform.b != 0 or transform.d != 0:
        raise DataError("rotated rasters are not supported for area; warp to a north-up grid")
    return _area_grid(tuple(transform)[:6], _crs_key(crs), rows, cols, col_block)


def _crs_key(crs: Any) -> str:
    return crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)


@functools.lru_cache(maxsize=16)
def _area_grid(t: tuple[float, ...], crs: str, rows: int, cols: int,
               col_block: int) -> PixelAreaGrid:
    from affine import Affine
    from pyproj import Geod, Transformer

    transform = Affine(*t)
    geod = Geod(ellps="WGS84")
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    n_blocks = -(-cols // col_block)
    area = np.empty((rows, n_blocks), dtype=np.float64)
    for b in range(n_blocks):
        c0, c1 = b * col_block, min(cols, (b + 1) * col_block)
        xs = transform.c + transform.a * np.linspace(c0, c1, _EDGE_POINTS + 1)
        for r in range(rows):
            y_top = transform.f + transform.e * r
            y_bot = y_top + transform.e
            ring_x = np.concatenate([xs, xs[::-1]])
            ring_y = np.concatenate([np.full(xs.size, y_top), np.full(xs.size, y_bot)])
            lon, lat = to_lonlat.transform(ring_x, ring_y)
            a_m2, _ = geod.polygon_area_perimeter(lon, lat)
            area[r, b] = abs(a_m2) / (c1 - c0)
    if not np.all(np.isfinite(area)):
        raise DataError("pixel areas are not finite: the grid lies outside its CRS's valid area")
    area.setflags(write=False)  # shared between callers through the cache
    return PixelAreaGrid(area_m2=area, col_block=col_block)
