"""Metrics on REAL labelled chips: the published protocol and the slices the gate checks.

- Mean per-chip pixel accuracy (the protocol of John & Zhang 2022: accuracy of each chip, then
  the mean over chips), forest F1 and forest IoU (pooled over all pixels of all chips).
- A model's 3-class output is scored as forest / not forest: a "cloud" prediction on a real chip
  counts as not forest (the chips are cloud-free, so it is an error wherever the truth is forest).
- Slices: ``forest_edge_3px`` (pixels within 3 px, Chebyshev distance, of a forest/non-forest
  boundary of the truth mask) and ``forest_share=lt33|33to67|gt67`` (whole chips by their forest
  share, thresholds fixed in :func:`apps.deforestation.real_chips.forest_share_slice`).

For core.gates, a target is encoded per pixel as ``chip_index * 2 + truth`` so that one metric
function sees chip membership and can take the mean per chip; predictions are class codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from apps.deforestation.real_chips import Chip, forest_share_slice
from apps.deforestation.simulate import FOREST

EDGE_PX = 3

# Published references: mean per-chip pixel accuracy on the dataset's 15 other labelled chips
# (not shipped), John & Zhang 2022, Int. J. Appl. Earth Obs. Geoinf. 107:102685.
PUBLISHED = ({"model": "U-Net (John & Zhang 2022)", "accuracy_points": 94.7},
             {"model": "Attention U-Net (John & Zhang 2022)", "accuracy_points": 95.3})


def edge_mask(mask: np.ndarray, px: int = EDGE_PX) -> np.ndarray:
    """True where a pixel is within ``px`` pixels (Chebyshev) of the other class."""
    forest = mask == FOREST
    square = np.ones((3, 3), dtype=bool)
    near_forest = ndimage.binary_dilation(forest, square, iterations=px)
    near_other = ndimage.binary_dilation(~forest, square, iterations=px)
    return near_forest & near_other


def encode_targets(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Flat per-pixel targets ``chip_index * 2 + (truth == forest)`` (int32)."""
    return np.concatenate([(i * 2 + (m == FOREST)).ravel() for i, m in enumerate(masks)]
                          ).astype(np.int32)


def _split(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, pred = np.asarray(y), np.asarray(pred)
    return y // 2, (y % 2).astype(bool), pred == FOREST


def mean_chip_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean over chips of each chip's pixel accuracy, in points (0–100)."""
    chip, truth, guess = _split(y, pred)
    ids, inv = np.unique(chip, return_inverse=True)
    right = np.bincount(inv, weights=(truth == guess).astype(float), minlength=len(ids))
    total = np.bincount(inv, minlength=len(ids))
    return float(100.0 * np.mean(right / total))


def _counts(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    _chip, truth, guess = _split(y, pred)
    return float((truth & guess).sum()), float((~truth & guess).sum()), float(
        (truth & ~guess).sum())


def forest_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Forest F1 in points, pooled over pixels (both empty: 100)."""
    tp, fp, fn = _counts(y, pred)
    return 100.0 if tp + fp + fn == 0 else 100.0 * 2 * tp / (2 * tp + fp + fn)


def forest_iou(y: np.ndarray, pred: np.ndarray) -> float:
    """Forest IoU in points, pooled over pixels (both empty: 100)."""
    tp, fp, fn = _counts(y, pred)
    return 100.0 if tp + fp + fn == 0 else 100.0 * tp / (tp + fp + fn)


METRICS = {"accuracy_points": mean_chip_accuracy, "forest_f1_points": forest_f1,
           "forest_iou_points": forest_iou}


def slices(chips: Sequence[Chip]) -> dict[str, np.ndarray]:
    """Per-pixel slice masks/keys over the flattened chips (same order as encode_targets)."""
    edge = np.concatenate([edge_mask(c.mask).ravel() for c in chips])
    share = np.concatenate([np.full(c.mask.size, forest_share_slice(c.forest_share))
                            for c in chips])
    return {"forest_edge_3px": edge, "forest_share": share}


@dataclass(frozen=True)
class ChipTable:
    """Metrics overall and per slice for one model: {slice: {metric: points, n_pixels, n_chips}}."""

    rows: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.rows)


def chip_table(chips: Sequence[Chip], preds: Sequence[np.ndarray]) -> ChipTable:
    """All metrics, overall and per slice, for per-chip class predictions (h, w)."""
    y = encode_targets([c.mask for c in chips])
    p = np.concatenate([np.asarray(q).ravel() for q in preds])
    masks: dict[str, np.ndarray] = {"overall": np.ones(len(y), dtype=bool)}
    for name, val in slices(chips).items():
        if val.dtype == bool:
            masks[name] = val
        else:
            masks |= {f"{name}={k}": val == k for k in np.unique(val)}
    rows = {}
    for name, m in masks.items():
        row = {k: fn(y[m], p[m]) for k, fn in METRICS.items()}
        row |= {"n_pixels": int(m.sum()), "n_chips": int(len(np.unique(y[m] // 2)))}
        rows[name] = row
    return ChipTable(rows)
