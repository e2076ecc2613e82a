"""The map of a finished job: imagery warped to Web Mercator lines up with its lon/lat bounds,
polygons carry their tooltip text, and the page draws a pydeck chart from the service only."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from streamlit.testing.v1 import AppTest

from apps.deforestation.jobmap import _rgb, _stretch, job_map, to_display
from apps.deforestation.rasters import RasterSource
from tests.e2e.deforestation_job import IGUACU, seed_finished_job

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = tmp_path_factory.mktemp("cache")
    return cache, seed_finished_job(cache, tmp_path_factory.mktemp("seed"))


def _png(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def _merc_y(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def test_imagery_lines_up_with_its_bounds_in_web_mercator(finished) -> None:
    _, out = finished
    m = job_map(out)
    png = _png(m.after.png_data_url)
    assert png.ndim == 3 and png.shape[2] == 4
    record = json.loads((out / "job.json").read_text())
    before = _rgb(RasterSource(record["before"]["source"], "landsat8_bgr"))
    src = RasterSource(IGUACU, "landsat8_bgr")
    rgb, valid, transform = _rgb(src)
    lo, hi = _stretch([before[0], rgb], [before[1], valid])  # both dates share one stretch
    shown = to_display(rgb, valid, lo, hi)[..., :3].astype(int)
    west, south, east, north = m.after.bounds_lonlat
    to_ll = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
    rows, cols = rgb.shape[:2]
    for r, c in [(rows // 4, cols // 4), (rows // 2, cols // 2), (3 * rows // 4, cols // 3),
                 (rows // 3, 3 * cols // 4), (5, 7), (rows - 6, cols - 8)]:
        lon, lat = to_ll.transform(*(transform * (c + 0.5, r + 0.5)))
        px = (lon - west) / (east - west) * png.shape[1]
        py = (_merc_y(north) - _merc_y(lat)) / (_merc_y(north) - _merc_y(south)) * png.shape[0]
        got = png[int(py), int(px), :3].astype(int)
        # nearest resampling may pick a neighbour: the PNG pixel is one of the 3×3 around it
        near = shown[r - 1:r + 2, c - 1:c + 2].reshape(-1, 3)
        assert np.abs(near - got).max(axis=1).min() == 0, (r, c)
    assert png[..., 3].max() == 255
    assert m.n_patches > 0
    xy = [p for f in m.loss["features"] for p in _coords(f["geometry"])]
    assert west <= min(x for x, _ in xy) and max(x for x, _ in xy) <= east
    assert south <= min(y for _, y in xy) and max(y for _, y in xy) <= north
    props = m.loss["features"][0]["properties"]
    assert props["area"].startswith(f"{props['area_ha']:,.2f} ha")
    assert f"{props['co2_t_with_roots']:,.0f} t" in props["co2_roots"]
    assert "date not stated" in props["dates"]  # the Iguaçu clip states no acquisition date


def _coords(geom: dict) -> list[tuple[float, float]]:
    import shapely
    from shapely.geometry import shape

    return [tuple(p) for p in shapely.get_coordinates(shape(geom))]


def test_an_unfinished_job_has_no_map(tmp_path: Path) -> None:
    from core.errors import DataError

    with pytest.raises(DataError, match="rerun it"):
        job_map(tmp_path)


def _page(ctx) -> None:
    from apps.deforestation.page import render

    render(ctx)


def test_page_draws_the_map_of_a_finished_job(finished, tmp_path: Path) -> None:
    from apps.context import AppContext
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    cache, _ = finished
    ctx = AppContext(data_dir=PROJECT / "data", cache_dir=cache, models_dir=tmp_path / "models",
                     ledger=Ledger(f"sqlite:///{tmp_path / 'l.db'}"), meter=Meter(),
                     carbon=resolve_source(zone="US-CISO"))
    at = AppTest.from_function(_page, kwargs={"ctx": ctx}, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    spec = charts[0].proto.json
    assert "BitmapLayer" in spec and "GeoJsonLayer" in spec and "cartocdn" not in spec
    deck = json.loads(spec)
    # Streamlit draws no basemap for pydeck's style sentinel; a null style makes it fetch Carto's
    assert deck.get("mapProvider") is None and deck["mapStyle"] == "__MAP_STYLE__"
    assert any("loss patches" in c.value for c in at.caption)
    at.radio[0].set_value("before").run()
    assert "imagery-before" in at.get("deck_gl_json_chart")[0].proto.json
