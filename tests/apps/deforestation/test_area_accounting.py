"""Geodesic hectares in three CRSs and CO2 accounting on tiny and on real maps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import Proj

from apps.cli import main
from apps.deforestation.accounting import account_loss_map
from apps.deforestation.area import pixel_area_grid
from apps.deforestation.carbon_stock import CARBON_FRACTION, CO2_PER_C, ROOT_TO_SHOOT

from .conftest import AGB, FCC23, PRODES, write_raster

WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563


def _band_area_m2(lat1: float, lat2: float, dlon_deg: float) -> float:
    """Exact ellipsoid area between two parallels (authalic formula), independent of pyproj."""
    e2 = WGS84_F * (2 - WGS84_F)
    e = math.sqrt(e2)
    b2 = (WGS84_A * (1 - WGS84_F)) ** 2

    def q(phi: float) -> float:
        s = math.sin(math.radians(phi))
        return s / (1 - e2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return abs(math.pi * b2 * (q(lat2) - q(lat1)) * dlon_deg / 360.0)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4674"])
def test_degree_pixels_match_the_ellipsoid_formula(crs: str) -> None:
    res = 0.000269
    grid = pixel_area_grid(Affine(res, 0, -63.0, 0, -res, -9.0), crs, 4, 3)
    expected = _band_area_m2(-9.0, -9.0 - res, res)
    assert grid.area_m2[0, 0] == pytest.approx(expected, rel=1e-6)
    assert grid.area_m2[0, 0] == pytest.approx(880.6, rel=1e-3)  # ≈ PRODES pixel, not 900


def test_world_mercator_pixels_shrink_by_the_areal_scale() -> None:
    y = 1_800_000.0  # ≈ 16.2° N (Guadeloupe), EPSG:3395 metres
    grid = pixel_area_grid(Affine(30, 0, -6_800_000, 0, -30, y), "EPSG:3395", 2, 2)
    proj = Proj("EPSG:3395")
    lon, lat = proj(-6_800_000 + 15, y - 15, inverse=True)
    scale = proj.get_factors(lon, lat).areal_scale
    assert grid.area_m2[0, 0] == pytest.approx(900 / scale, rel=1e-4)
    assert grid.area_m2[0, 0] < 840  # nominal 900 m² would overstate by > 7 %


def test_utm_pixels_follow_the_point_scale() -> None:
    x0, y0 = 300_000.0, 7_200_000.0  # zone 21S, ~2° west of the central meridian
    grid = pixel_area_grid(Affine(30, 0, x0, 0, -30, y0), "EPSG:32721", 3, 600, col_block=256)
    proj = Proj("EPSG:32721")
    lon, lat = proj(x0 + 15, y0 - 15, inverse=True)
    assert grid.area_m2[0, 0] == pytest.approx(900 / proj.get_factors(lon, lat).areal_scale,
                                               rel=1e-4)
    assert grid.area_m2.shape == (3, 3)


def test_co2_formula_with_biomass_nodata_falling_back_to_default(tmp_path: Path) -> None:
    t = Affine(0.001, 0, -60, 0, -0.001, -5)
    loss = np.zeros((10, 10), np.uint8)
    loss[:2, :5] = 7  # 10 loss pixels
    agb = np.full((10, 10), 200.0, np.float32)
    agb[0, :5] = -9999  # 5 of them have no biomass
    m = write_raster(tmp_path / "loss.tif", loss, "EPSG:4326", t)
    b = write_raster(tmp_path / "agb.tif", agb, "EPSG:4326", t, nodata=-9999)
    acct = account_loss_map(m, [7], b, continent="africa")
    px_ha = _band_area_m2(-5.0, -5.001, 0.001) / 1e4
    assert acct.loss_pixels == 10
    assert acct.loss_ha == pytest.approx(10 * px_ha, rel=1e-3)
    dm_t = 5 * px_ha * 200 + 5 * px_ha * 310  # raster + IPCC Africa default
    agc = dm_t * CARBON_FRACTION.value * CO2_PER_C
    assert acct.co2_t_above_ground == pytest.approx(agc, rel=1e-3)
    assert acct.co2_t_with_roots == pytest.approx(agc * (1 + ROOT_TO_SHOOT.value), rel=1e-3)
    assert acct.co2_t_above_ground_low < acct.co2_t_above_ground < acct.co2_t_above_ground_high
    assert acct.ha_with_default_biomass == pytest.approx(5 * px_ha, rel=1e-3)


def test_real_guadeloupe_and_prodes_maps_via_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiles", "account", str(FCC23), "--loss-values", "0", "--biomass", str(AGB),
                 "--json"]) == 0
    g = json.loads(capsys.readouterr().out)
    assert {"loss_ha", "co2_t_above_ground", "co2_t_with_roots", "method"} <= set(g)
    assert g["loss_pixels"] == 55375
    assert 0.9 * 55375 * 0.0825 < g["loss_ha"] < 55375 * 0.0835  # ≈ 830 m² per "30 m" pixel
    assert g["ha_with_raster_biomass"] > 0.9 * g["loss_ha"]
    assert main(["tiles", "account", str(PRODES), "--loss-values", "11,16,17,27,29,33",
                 "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["loss_pixels"] == 114353
    assert p["loss_ha"] == pytest.approx(114353 * 0.08806, rel=2e-3)
    assert "IPCC 2006" in p["method"]
