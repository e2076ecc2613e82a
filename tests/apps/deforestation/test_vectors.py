"""Loss polygons: areas match the raster's geodesic hectares, GeoJSON is RFC 7946 (lon/lat,
counter-clockwise exteriors), the GeoPackage holds the same features; batch jobs write both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Geod
from scipy import ndimage
from shapely.geometry import shape

from apps.deforestation.acquisition import acquisition_date
from apps.deforestation.area import pixel_area_grid
from apps.deforestation.batch import JobSpec, ModelSpec, run_job
from apps.deforestation.rasters import RasterSource
from apps.deforestation.vectors import loss_patches, to_lonlat, write_loss_vectors

from .conftest import BERLIN, IGUACU, OSCD_1, OSCD_2

GEOD = Geod(ellps="WGS84")


def _grid(path: Path, sensor: str) -> tuple[object, object, tuple[int, int]]:
    src = RasterSource(path, sensor)
    return src.transform, src.crs, src.shape


def _codes(shape: tuple[int, int]) -> np.ndarray:
    """Loss patches of several forms: a block with a hole, an L, two pixels touching only at a
    corner (one 8-connected patch), a single pixel, and a patch on the image edge."""
    c = np.zeros(shape, np.uint8)
    c[10:30, 10:40] = 1
    c[15:20, 20:25] = 0  # hole
    c[50:70, 50:53] = 1
    c[67:70, 53:65] = 1
    c[80, 80] = c[81, 81] = 1
    c[90, 20] = 1
    c[-6:, -9:] = 1
    c[0:3, 100:104] = 255  # unknown is never loss
    return c


@pytest.mark.parametrize(("path", "sensor"), [(IGUACU, "landsat8_bgr"),  # UTM 21S, 30 m
                                              (OSCD_1, "sentinel2_l1c")])  # EPSG:4326
def test_polygon_areas_match_the_rasters_geodesic_hectares(path: Path, sensor: str) -> None:
    transform, crs, shp = _grid(path, sensor)
    codes = _codes(shp)
    grid = pixel_area_grid(transform, crs, *shp)
    conf = np.where(codes == 1, 0.8, 0.0).astype(np.float32)
    patches = loss_patches(codes, conf, transform, grid, "americas", ("2020-01-01", None))
    _, n = ndimage.label(codes == 1, structure=np.ones((3, 3), bool))
    assert len(patches) == n == 5
    assert sum(p.loss_pixels for p in patches) == int((codes == 1).sum())
    assert sum(p.area_ha for p in patches) == pytest.approx(grid.sum_ha(codes == 1), rel=1e-9)
    for p in patches:
        lonlat = to_lonlat(p.geometry, crs)
        assert lonlat.is_valid
        area_m2, _ = GEOD.geometry_area_perimeter(lonlat)
        assert area_m2 > 0  # counter-clockwise exteriors give positive geodesic area
        assert area_m2 / 1e4 == pytest.approx(p.area_ha, rel=2e-3), p.patch_id
        assert p.mean_confidence == pytest.approx(0.8, rel=1e-6)
    corner = [p for p in patches if p.loss_pixels == 2]
    assert len(corner) == 1 and corner[0].geometry.geom_type == "MultiPolygon"
    holed = max(patches, key=lambda p: p.loss_pixels)
    assert len(holed.geometry.interiors) == 1
    assert holed.co2_t_with_roots_low < holed.co2_t_with_roots < holed.co2_t_with_roots_high


def test_geojson_is_rfc7946_and_the_gpkg_has_the_same_features(tmp_path: Path) -> None:
    import pyogrio

    transform, crs, shp = _grid(IGUACU, "landsat8_bgr")
    codes = _codes(shp)
    grid = pixel_area_grid(transform, crs, *shp)
    conf = np.where(codes == 1, 0.5, 0.0).astype(np.float32)
    out = write_loss_vectors(tmp_path, codes, conf, transform, crs, grid, "americas",
                             ("2020-01-27", "2020-05-18"), {"lossmap": "x"})
    fc = json.loads(out.geojson.read_text())
    assert fc["type"] == "FeatureCollection" and "crs" not in fc and len(fc["features"]) == 5
    with rasterio.open(IGUACU) as ds:
        bounds = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    for f in fc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        geom = shape(f["geometry"])
        assert geom.is_valid
        lon, lat = np.asarray(shapely.get_coordinates(geom)).T
        # lon/lat order: the Iguaçu scene lies near 54° W, 25° S
        eps = 1e-6  # coordinates are rounded to 7 decimals
        assert bounds[0] - eps <= lon.min() and lon.max() <= bounds[2] + eps
        assert bounds[1] - eps <= lat.min() and lat.max() <= bounds[3] + eps
        for poly in shapely.get_parts(geom):
            assert poly.exterior.is_ccw and not any(r.is_ccw for r in poly.interiors)
            assert poly.exterior.coords[0] == poly.exterior.coords[-1]
        props = f["properties"]
        assert props["date_before"] == "2020-01-27" and props["date_after"] == "2020-05-18"
        assert {"area_ha", "co2_t_above_ground", "co2_t_above_ground_low",
                "co2_t_above_ground_high", "co2_t_with_roots", "co2_t_with_roots_low",
                "co2_t_with_roots_high", "mean_confidence"} <= set(props)
    info = pyogrio.read_info(out.gpkg, layer="loss")
    assert info["features"] == 5 and info["geometry_type"] == "MultiPolygon"
    assert pyogrio.read_info(out.gpkg, layer="loss")["crs"].endswith("32621")
    _meta, _fids, geoms, fields = pyogrio.raw.read(out.gpkg, layer="loss")
    names = list(_meta["fields"])
    by_id = {f["id"]: f for f in fc["features"]}
    for i, wkb in enumerate(geoms):
        pid = int(fields[names.index("patch_id")][i])
        ref = by_id[pid]
        for name in ("area_ha", "co2_t_with_roots", "mean_confidence", "date_before"):
            assert fields[names.index(name)][i] == pytest.approx(ref["properties"][name])
        g = to_lonlat(shapely.from_wkb(wkb), crs)
        assert g.hausdorff_distance(shape(ref["geometry"])) < 1e-6  # 7-decimal rounding


def test_empty_loss_writes_empty_layers(tmp_path: Path) -> None:
    import pyogrio

    transform, crs, shp = _grid(OSCD_1, "sentinel2_l1c")
    codes = np.zeros(shp, np.uint8)
    out = write_loss_vectors(tmp_path, codes, codes.astype(np.float32), transform, crs,
                             pixel_area_grid(transform, crs, *shp), "americas", (None, None), {})
    assert json.loads(out.geojson.read_text())["features"] == [] and out.n_patches == 0
    assert pyogrio.read_info(out.gpkg, layer="loss")["features"] == 0


def _forested_copy(tmp_path: Path, model) -> Path:
    """The real Iguaçu clip with every pixel the model calls non-forest painted in the mean
    colour of its forest pixels: as 'before', the real clip as 'after' shows loss there."""
    from apps.deforestation.model import predict_probs

    with rasterio.open(IGUACU) as ds:
        arr, profile = ds.read(), ds.profile
    cls = predict_probs(model, RasterSource(IGUACU, "landsat8_bgr").read().data).argmax(0)
    arr[:, cls == 0] = arr[:, cls == 1].mean(1).round().astype(arr.dtype)[:, None]
    with rasterio.open(tmp_path / "before.tif", "w", **profile) as dst:
        dst.write(arr)
    return tmp_path / "before.tif"


def test_batch_job_writes_vectors_that_add_up_to_its_account(tmp_path: Path,
                                                             tiny_models) -> None:
    from apps.deforestation.accounting import account_loss_map
    from apps.deforestation.model import load

    # the one-epoch student calls every real pixel forest; the one-epoch teacher does not
    before = _forested_copy(tmp_path, load("teacher", 3, tiny_models["teacher"]))
    spec = JobSpec(RasterSource(before, "landsat8_bgr"), RasterSource(IGUACU, "landsat8_bgr"),
                   tmp_path / "job", ModelSpec("teacher", tiny_models["teacher"], 3),
                   tile_px=128, overlap_px=32, mmu_ha=0.5, before_date="2020-05-18",
                   after_date="2021-05-21")
    job = run_job(spec)
    fc = json.loads(job.loss_geojson.read_text())
    with rasterio.open(job.lossmap) as ds:
        _, n = ndimage.label(ds.read(1) == 1, structure=np.ones((3, 3), bool))
    assert len(fc["features"]) == n == job.loss_patches and n > 0
    acct = account_loss_map(job.lossmap, [1])
    props = [f["properties"] for f in fc["features"]]
    assert all(p["area_ha"] >= 0.5 for p in props)  # the minimum mapping unit holds
    assert sum(p["area_ha"] for p in props) == pytest.approx(acct.loss_ha, rel=1e-9)
    for key in ("co2_t_above_ground", "co2_t_with_roots_low", "co2_t_with_roots_high"):
        assert sum(p[key] for p in props) == pytest.approx(getattr(acct, key), rel=1e-9)
    assert {(p["date_before"], p["date_after"]) for p in props} == {("2020-05-18", "2021-05-21")}
    assert all(0 < p["mean_confidence"] <= 1 for p in props)
    record = json.loads((spec.out_dir / "job.json").read_text())
    assert record["after"]["source"] == str(IGUACU) and record["after"]["date"] == "2021-05-21"


def test_job_dates_come_from_the_products_when_not_given(tmp_path: Path, tiny_models) -> None:
    from apps.deforestation.batch import job_dates

    spec = JobSpec(RasterSource(OSCD_1, "sentinel2_l1c"), RasterSource(OSCD_2, "sentinel2_l1c"),
                   tmp_path, ModelSpec("student", tiny_models["student"], 3))
    assert job_dates(spec) == ("2015-09-16", "2017-10-15")


def test_acquisition_dates_come_only_from_what_products_state(tmp_path: Path) -> None:
    assert acquisition_date([OSCD_2]) == "2017-10-15"
    berlin = sorted(BERLIN.glob("*B02.jp2"))
    assert acquisition_date(berlin) == "2017-02-16"
    assert acquisition_date([Path("LC08_L1TP_224078_20200518_20200527_01_T1.TIF")]) == "2020-05-18"
    # old-format S2 tile names carry the processing time: not a sensing date
    assert acquisition_date([Path("S2A_OPER_MSI_L1C_TL_EPA__20161227T091305_B02.tif")]) is None
    assert acquisition_date([IGUACU]) is None
