"""Hectares and CO2 of any loss or label map (PRODES, Hansen, JRC TMF, this app's own output).

Official maps and the app's detections go through the same code: geodesic pixel areas
(:mod:`area`) and biomass-based emissions (:mod:`carbon_stock`), streamed in row blocks so a
10-megapixel map stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation.area import pixel_area_grid
from apps.deforestation.carbon_stock import (
    CARBON_FRACTION,
    CO2_PER_C,
    ROOT_TO_SHOOT,
    BiomassSums,
    co2_from_biomass,
    default_agb,
)
from apps.deforestation.rasters import _open
from core.errors import DataError

_ROW_BLOCK = 512


@dataclass(frozen=True)
class LossAccount:
    """Area and CO2 of the loss pixels of one map. Tonnes are metric tonnes of CO2."""

    loss_ha: float
    loss_pixels: int
    co2_t_above_ground: float
    co2_t_above_ground_low: float
    co2_t_above_ground_high: float
    co2_t_with_roots: float
    co2_t_with_roots_low: float
    co2_t_with_roots_high: float
    ha_with_raster_biomass: float
    ha_with_default_biomass: float
    method: str
    crs: str
    factors: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (keys as in ``greenstack tiles account --json``)."""
        return dict(self.__dict__)


def _biomass_vrt(biomass_path: Path, ref: Any) -> Any:
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    ds = _open(biomass_path)
    if ds.crs is None:
        raise DataError(f"{biomass_path}: biomass raster has no CRS; assign one first")
    nodata = ds.nodata if ds.nodata is not None else np.nan
    # Nearest: each loss pixel takes the biomass of the cell it falls in (units Mg/ha unchanged).
    return ds, WarpedVRT(ds, crs=ref.crs, transform=ref.transform, width=ref.width,
                         height=ref.height, resampling=Resampling.nearest, src_nodata=nodata,
                         nodata=np.nan, dtype="float32")


def _block_sums(loss: np.ndarray, area_m2: np.ndarray, agb: np.ndarray | None,
                default: Any) -> tuple[float, float, BiomassSums]:
    area_ha = area_m2 / 10_000.0 * loss
    has = np.zeros_like(loss) if agb is None else (np.isfinite(agb) & (agb >= 0) & loss)
    ha_raster = float(area_ha[has].sum())
    ha_default = float(area_ha[loss & ~has].sum())
    raster_t = float((area_ha[has] * agb[has]).sum()) if agb is not None else 0.0
    sums = BiomassSums(raster_t, ha_default * default.value, ha_default * default.low,
                       ha_default * default.high)
    return ha_raster, ha_default, sums


def account_loss_map(map_path: Path, loss_values: Sequence[int | float],
                     biomass_path: Path | None = None, continent: str = "americas",
                     band: int = 1) -> LossAccount:
    """Hectares and CO2 of pixels of ``map_path`` whose value is in ``loss_values``."""
    from rasterio.windows import Window

    if not loss_values:
        raise DataError("no loss values given: pass the map's loss codes, e.g. --loss-values 0")
    default = default_agb(continent)
    values = np.asarray(list(loss_values))
    with _open(Path(map_path)) as ds:
        grid = pixel_area_grid(ds.transform, ds.crs, ds.height, ds.width)
        opened = _biomass_vrt(Path(biomass_path), ds) if biomass_path else None
        ha_r = ha_d = 0.0
        pixels = 0
        sums = BiomassSums()
        try:
            for r0 in range(0, ds.height, _ROW_BLOCK):
                win = Window(0, r0, ds.width, min(_ROW_BLOCK, ds.height - r0))
                block = ds.read(band, window=win)
                loss = np.isin(block, values)
                if ds.nodata is not None:
                    loss &= block != ds.nodata
                agb = opened[1].read(1, window=win) if opened else None
                a, d, s = _block_sums(loss, grid.per_pixel(r0, 0, *block.shape), agb, default)
                ha_r, ha_d, sums, pixels = ha_r + a, ha_d + d, sums + s, pixels + int(loss.sum())
        finally:
            if opened:
                opened[1].close()
                opened[0].close()
        crs = ds.crs.to_string() if ds.crs else ""
    return _result(ha_r, ha_d, pixels, sums, default, biomass_path, crs)


def _result(ha_r: float, ha_d: float, pixels: int, sums: BiomassSums, default: Any,
            biomass_path: Path | None, crs: str) -> LossAccount:
    above = co2_from_biomass(sums, with_roots=False)
    roots = co2_from_biomass(sums, with_roots=True)
    route = (f"biomass raster {Path(biomass_path).name} (nearest cell, nodata → IPCC default)"
             if biomass_path else "IPCC 2006 default biomass")
    method = (f"geodesic pixel areas (WGS84 ellipsoid, pyproj.Geod); {route}; "
              "CO2 = AGB × (1 + root:shoot) × carbon fraction × 44/12")
    factors = {"default_agb_t_per_ha": default.to_dict(), "root_to_shoot": ROOT_TO_SHOOT.to_dict(),
               "carbon_fraction": CARBON_FRACTION.to_dict(),
               "co2_per_c": {"value": CO2_PER_C, "source": "molar masses 44/12"}}
    if biomass_path:
        factors["biomass_raster"] = {"path": str(biomass_path), "units": "Mg/ha",
                                     "range": "none stated for the raster; low/high vary CF only"}
    return LossAccount(
        loss_ha=ha_r + ha_d, loss_pixels=pixels,
        co2_t_above_ground=above.central_t, co2_t_above_ground_low=above.low_t,
        co2_t_above_ground_high=above.high_t, co2_t_with_roots=roots.central_t,
        co2_t_with_roots_low=roots.low_t, co2_t_with_roots_high=roots.high_t,
        ha_with_raster_biomass=ha_r, ha_with_default_biomass=ha_d, method=method, crs=crs,
        factors=factors)
