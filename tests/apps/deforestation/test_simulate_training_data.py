"""Simulator invariants, loss/MMU logic, EuroSAT loader on a tiny SYNTHETIC tree, label rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from apps.deforestation.area import pixel_area_grid
from apps.deforestation.change import LOSS, NO_LOSS, UNKNOWN, apply_mmu, raw_loss
from apps.deforestation.rasters import RasterSource
from apps.deforestation.simulate import CLOUD, FOREST, NONFOREST, simulate_pairs
from apps.deforestation.training_data import IGNORE, load_eurosat, reproject_labels
from core.errors import DataError

from .conftest import DATA, PRODES, write_raster


def test_simulator_is_deterministic_and_has_varied_clearings() -> None:
    a, b = simulate_pairs(3, 6, 64), simulate_pairs(3, 6, 64)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.after, q.after)
    pairs = simulate_pairs(1, 30, 64)
    sizes = {int(s) for p in pairs for s in np.unique(p.clearing_px) if s}
    assert min(sizes) < 100 < max(sizes)  # < 1 ha and > 1 ha clearings at 10 m
    for p in pairs:
        cleared = p.clearing_px > 0
        assert (p.label_before[cleared] != NONFOREST).all()  # cleared pixels were forest
        assert set(np.unique(p.label_after)) <= {NONFOREST, FOREST, CLOUD}
    assert {p.sensor for p in pairs} == {"sentinel2_l1c", "landsat8", "rgb8"}
    assert any((p.label_after == CLOUD).any() for p in pairs)


def test_loss_needs_forest_then_non_forest_and_clouds_are_unknown() -> None:
    pb = np.zeros((3, 1, 4), np.float32)
    pa = np.zeros((3, 1, 4), np.float32)
    pb[FOREST] = 1
    pa[NONFOREST, 0, 0] = 1  # loss
    pa[FOREST, 0, 1] = 1  # still forest
    pa[CLOUD, 0, 2] = 1  # cloud after → unknown
    pa[NONFOREST, 0, 3] = 1
    valid = np.array([[True, True, True, False]])
    lm = raw_loss(pb, pa, valid)
    assert lm.codes.tolist() == [[LOSS, NO_LOSS, UNKNOWN, UNKNOWN]]
    assert lm.confidence[0, 0] == 1.0


def test_mmu_uses_geodesic_hectares() -> None:
    codes = np.zeros((20, 20), np.uint8)
    codes[1:4, 1:4] = LOSS  # 9 px × 900 m² = 0.81 ha
    codes[10, 10] = LOSS  # 0.09 ha
    grid = pixel_area_grid(Affine(30, 0, 500000, 0, -30, 0), "EPSG:32733", 20, 20)
    lm = apply_mmu(raw_loss_like(codes), grid.per_pixel(0, 0, 20, 20), 0.5)
    assert lm.codes[2, 2] == LOSS and lm.codes[10, 10] == NO_LOSS


def raw_loss_like(codes: np.ndarray):
    from apps.deforestation.change import LossMap

    return LossMap(codes, (codes == LOSS).astype(np.float32))


def test_eurosat_loader_on_a_tiny_synthetic_tree(tmp_path: Path) -> None:
    # SYNTHETIC: random 13-band patches in EuroSAT's folder layout, made here for the test only.
    rng = np.random.default_rng(0)
    for cls in ("Forest", "Pasture"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            write_raster(tmp_path / cls / f"{cls}_{i}.tif",
                         rng.integers(1, 3000, (13, 64, 64), dtype=np.uint16), "EPSG:32633",
                         Affine(10, 0, 0, 0, -10, 0))
    ps = load_eurosat(tmp_path)
    assert ps.images.shape == (4, 3, 64, 64) and ps.classes.count("Forest") == 2
    forest = np.array([c == "Forest" for c in ps.classes])
    assert (ps.labels[forest] == FOREST).all() and (ps.labels[~forest] == NONFOREST).all()
    (tmp_path / "Forrest").mkdir()
    with pytest.raises(DataError, match="unknown EuroSAT class"):
        load_eurosat(tmp_path)


def test_label_raster_reprojected_onto_image_grid(tmp_path: Path) -> None:
    # image grid: a UTM 20S raster over part of the PRODES (EPSG:4674) clip
    img = write_raster(tmp_path / "img.tif", np.ones((3, 50, 50), np.uint16), "EPSG:32720",
                       Affine(60, 0, 540000, 0, -60, 9035000))
    src = RasterSource(img, "landsat8_bgr")
    labels = reproject_labels(PRODES, src, {1: FOREST, 11: NONFOREST, 16: NONFOREST,
                                            17: NONFOREST, 27: NONFOREST, 29: NONFOREST,
                                            33: NONFOREST})
    assert labels.shape == (50, 50)
    assert set(np.unique(labels)) <= {FOREST, NONFOREST, IGNORE}
    assert (labels != IGNORE).mean() > 0.5


def test_teacher_targets_come_from_the_whole_scene_and_skip_invalid_crops(tiny_models) -> None:
    from apps.deforestation.model import load, predict_probs
    from apps.deforestation.train import teacher_targets

    teacher = load("teacher", 3, tiny_models["teacher"])
    rng = np.random.default_rng(0)
    scene = rng.uniform(0.0, 0.3, (3, 128, 128)).astype(np.float32)
    valid = np.ones((128, 128), dtype=bool)
    valid[100, 5] = False  # spoils the bottom-left 64-px crop only
    got = teacher_targets(teacher, [scene], [valid], None, crop_px=64, repeats=2)
    assert len(got) == 3 * 2
    whole = np.log(np.maximum(predict_probs(teacher, scene), 1e-6))
    np.testing.assert_allclose(got.teacher_logp[0], whole[:, :64, :64], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.hard[0], whole[:, :64, :64].argmax(0))
    labels = np.ones((128, 128), dtype=np.int64)
    with_labels = teacher_targets(teacher, [scene], [np.ones_like(valid)], [labels], 64)
    assert len(with_labels) == 4 and (with_labels.hard == 1).all()


def test_distillation_rasters_do_not_overlap_the_rasters_the_gate_scores() -> None:
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    from apps.deforestation.steps import distil_sources, real_sources

    def bounds(s: RasterSource) -> tuple[float, float, float, float]:
        return array_bounds(s.height, s.width, s.transform)

    data = DATA.parent
    scored = [(s.crs, bounds(s)) for s in real_sources(data).values()]
    distil = distil_sources(data)
    assert len(distil) == 8
    for name, src in distil.items():
        for crs, b in scored:
            o = transform_bounds(src.crs, crs, *bounds(src))
            overlap = o[0] < b[2] and b[0] < o[2] and o[1] < b[3] and b[1] < o[3]
            assert not overlap, f"{name} overlaps a raster the agreement check scores"
