"""REAL labelled chips: fixed disjoint split, band order, hand-checkable metrics on a real crop,
augmentations that keep image and mask aligned, and a 2-step real training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

PROJECT_DATA = Path(__file__).resolve().parents[3] / "data"
CHIPS = PROJECT_DATA / "satellite" / "amazon_forest"


def test_split_is_fixed_disjoint_and_follows_its_stated_rule() -> None:
    from apps.deforestation.real_chips import AmazonForestChips, derive_split

    split = json.loads((CHIPS / "split.json").read_text())
    names = {p.name[:-4] for p in CHIPS.glob("Amazon_*.tif")}
    assert len(names) == 30
    train, val = set(split["train"]), set(split["val"])
    assert not train & val and train | val == names and len(val) >= 8
    everything = AmazonForestChips(PROJECT_DATA, "all")
    shares = {c.name: c.forest_share for c in everything}
    assert derive_split(shares, split["n_val"], split["seed"]) == {
        "train": sorted(train), "val": sorted(val)}
    assert set(AmazonForestChips(PROJECT_DATA, "val").names) == val
    assert set(AmazonForestChips(PROJECT_DATA, "train").names) == train
    # one validation chip per forest-share stratum: they span the range
    v = sorted(shares[n] for n in val)
    assert v[0] < 0.3 and v[-1] > 0.9


def test_bad_split_name_and_bad_mask_values_say_what_to_fix(tmp_path: Path) -> None:
    from apps.deforestation.real_chips import AmazonForestChips
    from core.errors import DataError

    with pytest.raises(DataError, match="unknown split"):
        AmazonForestChips(PROJECT_DATA, "test")
    with pytest.raises(DataError, match="chip folder missing"):
        AmazonForestChips(tmp_path, "all")


def test_rgb_chip_bands_come_out_in_model_order_as_display_values() -> None:
    """The chips are R, G, B 8-bit; the model takes (blue, green, red): reordered, /255."""
    import rasterio

    from apps.deforestation.bands import MODEL_BANDS, sensor_by_name
    from apps.deforestation.real_chips import AmazonForestChips

    assert MODEL_BANDS == ("blue", "green", "red")
    assert AmazonForestChips.sensor == "rgb8"
    assert sensor_by_name("rgb8").multiband_order == ("R", "G", "B")
    chip = AmazonForestChips(PROJECT_DATA, "val")[0]
    with rasterio.open(CHIPS / f"{chip.name}.tif") as ds:
        raw = ds.read()  # file order R, G, B
    assert raw.dtype == np.uint8 and raw.shape == (3, 512, 512)
    np.testing.assert_allclose(chip.image[0], raw[2] / 255.0, rtol=1e-6)  # blue
    np.testing.assert_allclose(chip.image[1], raw[1] / 255.0, rtol=1e-6)  # green
    np.testing.assert_allclose(chip.image[2], raw[0] / 255.0, rtol=1e-6)  # red
    assert set(np.unique(chip.mask)) <= {0, 1}


def test_multiband_sensors_feed_the_same_three_bands_as_reflectance() -> None:
    from apps.deforestation.bands import MODEL_BANDS, sensor_by_name

    s2 = sensor_by_name("sentinel2_l1c")
    assert [s2.band(b).band_id for b in MODEL_BANDS] == ["B02", "B03", "B04"]
    assert s2.scale == pytest.approx(1e-4)  # DN/10000 reflectance, unlike rgb8's /255


# The first 4×4 crop (on a 4-px grid) of a real validation chip's mask with 6–10 forest pixels:
# small enough to count by hand, the expected numbers follow from its forest count.
def _real_edge_crop() -> tuple[np.ndarray, tuple[int, int]]:
    from apps.deforestation.real_chips import AmazonForestChips

    chip = AmazonForestChips(PROJECT_DATA, "val")[1]
    m = chip.mask
    for r in range(0, 508, 4):
        for c in range(0, 508, 4):
            crop = m[r:r + 4, c:c + 4]
            if 6 <= crop.sum() <= 10:
                return crop.copy(), (r, c)
    raise AssertionError("no mixed 4x4 crop found")


def test_metrics_on_a_small_real_crop_match_hand_counts() -> None:
    from apps.deforestation.real_metrics import (
        encode_targets,
        forest_f1,
        forest_iou,
        mean_chip_accuracy,
    )

    truth, _where = _real_edge_crop()
    n_forest = int(truth.sum())
    # prediction 1: everything forest → tp = n_forest, fp = 16 - n_forest, fn = 0
    all_forest = np.ones((4, 4), np.uint8)
    # prediction 2: the exact truth, with the top-left pixel flipped to "cloud" (2 = not forest)
    near = truth.copy()
    near[0, 0] = 2
    y = encode_targets([truth, truth])
    pred = np.concatenate([all_forest.ravel(), near.ravel()])
    acc1 = 100 * n_forest / 16
    acc2 = 100 * (15 if truth[0, 0] == 1 else 16) / 16
    assert mean_chip_accuracy(y, pred) == pytest.approx((acc1 + acc2) / 2)
    tp = n_forest + n_forest - int(truth[0, 0] == 1)
    fp = 16 - n_forest
    fn = int(truth[0, 0] == 1)
    assert forest_f1(y, pred) == pytest.approx(100 * 2 * tp / (2 * tp + fp + fn))
    assert forest_iou(y, pred) == pytest.approx(100 * tp / (tp + fp + fn))


def test_metrics_literal_example_and_per_chip_mean_is_not_pooled() -> None:
    from apps.deforestation.real_metrics import encode_targets, forest_f1, mean_chip_accuracy

    a = np.array([[1, 1], [0, 0]], np.uint8)  # chip 0: 4 px
    b = np.ones((4, 4), np.uint8)  # chip 1: 16 px
    y = encode_targets([a, b])
    pred = np.concatenate([np.array([1, 0, 0, 0]), np.zeros(16, np.int64)])
    # chip 0: 3/4 right; chip 1: 0/16 right → mean 37.5 (pooled would be 3/20 = 15)
    assert mean_chip_accuracy(y, pred) == pytest.approx(37.5)
    # forest: tp 1, fp 0, fn 1 + 16 → F1 = 2/(2+17)
    assert forest_f1(y, pred) == pytest.approx(100 * 2 / 19)


def test_edge_slice_is_within_3px_of_the_boundary() -> None:
    from apps.deforestation.real_metrics import edge_mask

    m = np.zeros((11, 11), np.uint8)
    m[5, 5] = 1
    e = edge_mask(m)
    expect = np.zeros((11, 11), bool)
    expect[2:9, 2:9] = True  # Chebyshev distance <= 3 from the one forest pixel
    np.testing.assert_array_equal(e, expect)
    assert not edge_mask(np.ones((5, 5), np.uint8)).any()


def test_chip_table_slices_on_real_validation_chips() -> None:
    from apps.deforestation.real_chips import AmazonForestChips
    from apps.deforestation.real_metrics import chip_table

    chips = AmazonForestChips(PROJECT_DATA, "val").load()[:3]
    perfect = chip_table(chips, [c.mask for c in chips]).rows
    assert perfect["overall"]["accuracy_points"] == 100.0 and perfect["overall"]["n_chips"] == 3
    assert perfect["forest_edge_3px"]["forest_f1_points"] == 100.0
    assert sum(v["n_chips"] for k, v in perfect.items() if k.startswith("forest_share=")) == 3
    inverted = chip_table(chips, [1 - c.mask for c in chips]).rows["overall"]
    assert inverted["accuracy_points"] == 0.0 and inverted["forest_iou_points"] == 0.0


def test_augmented_crops_keep_image_and_mask_aligned() -> None:
    from apps.deforestation.real_chips import AmazonForestChips
    from apps.deforestation.train import random_crops

    chip = AmazonForestChips(PROJECT_DATA, "val")[1]
    # channel 0 is the mask itself: after crop, turn, flip and brightness/contrast jitter
    # (monotonic per crop), forest pixels must still be exactly the brighter ones
    image = np.stack([chip.mask.astype(np.float32), chip.image[1], chip.image[2]])
    rng = np.random.default_rng(3)
    x, y = random_crops([image], [chip.mask], 24, 96, rng)
    assert x.shape == (24, 3, 96, 96) and y.shape == (24, 96, 96)
    mixed = 0
    for xi, yi in zip(x, y, strict=True):
        if 0 < yi.sum() < yi.size:
            mixed += 1
            assert xi[0][yi == 1].min() > xi[0][yi == 0].max()
    assert mixed >= 3
    # the geometry really varies: the 24 crops are not all the same orientation of one window
    assert len({xi[0].tobytes() for xi in x}) > 12


def test_two_step_real_training_run_with_ema_and_recomputed_batchnorm() -> None:
    import torch

    from apps.deforestation.model import predict_probs
    from apps.deforestation.real_chips import AmazonForestChips
    from apps.deforestation.train import MixedCrops, RealTeacherBudget, train_teacher_real

    chips = AmazonForestChips(PROJECT_DATA, "train").load()[:2]
    budget = RealTeacherBudget(steps=2, batch_size=4, sim_per_batch=1, crop_px=64,
                               sim_scenes=2, bn_batches=3, log_every=1)
    lines: list[str] = []
    model, hist = train_teacher_real(MixedCrops([c.image for c in chips],
                                                [c.mask for c in chips], budget), log=lines.append)
    assert len(lines) == 2 and lines[-1].startswith("teacher step 2/2")
    assert len(hist["loss_per_block"]) == 2 and all(np.isfinite(hist["loss_per_block"]))
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(int(m.num_batches_tracked) == 3 for m in bns)  # recomputed: exactly 3 batches
    assert float(bns[0].running_var.mean()) != 1.0  # not the reset value
    p = predict_probs(model, chips[0].image[:, :96, :96])
    assert p.shape == (3, 96, 96) and np.allclose(p.sum(0), 1, atol=1e-5)
