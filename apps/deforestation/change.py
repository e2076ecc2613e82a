"""Forest loss from two dates of class probabilities: forest before and not forest after.

Pixels that are cloud (or nodata) on either date are "unknown", never loss. Clusters of loss
smaller than the minimum mapping unit (geodesic hectares, 8-connected) are dropped. Confidence is
P(forest before) × P(non-forest after).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from apps.deforestation.simulate import CLOUD, FOREST, NONFOREST

# Loss-map codes written to the COG (uint8); `greenstack tiles account MAP --loss-values 1`.
NO_LOSS, LOSS, UNKNOWN = 0, 1, 255
DEFAULT_MMU_HA = 0.5


@dataclass(frozen=True)
class LossMap:
    """codes: uint8 (rows, cols) NO_LOSS/LOSS/UNKNOWN; confidence: float32 0–1 (0 off loss)."""

    codes: np.ndarray
    confidence: np.ndarray


def classes(probs: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Argmax class per pixel; nodata pixels become CLOUD (unknown)."""
    out = probs.argmax(0).astype(np.uint8)
    out[~valid] = CLOUD
    return out


def raw_loss(p_before: np.ndarray, p_after: np.ndarray, valid: np.ndarray) -> LossMap:
    """Per-pixel loss decision (no MMU) from (3, rows, cols) probabilities of both dates."""
    cb, ca = classes(p_before, valid), classes(p_after, valid)
    unknown = (cb == CLOUD) | (ca == CLOUD)
    loss = (cb == FOREST) & (ca == NONFOREST)
    codes = np.where(unknown, UNKNOWN, np.where(loss, LOSS, NO_LOSS)).astype(np.uint8)
    conf = np.where(loss, p_before[FOREST] * p_after[NONFOREST], 0.0).astype(np.float32)
    return LossMap(codes, conf)


def apply_mmu(loss_map: LossMap, pixel_area_m2: np.ndarray, mmu_ha: float) -> LossMap:
    """Drop 8-connected loss clusters under ``mmu_ha`` hectares (geodesic pixel areas)."""
    if mmu_ha <= 0:
        return loss_map
    labels, n = ndimage.label(loss_map.codes == LOSS, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return loss_map
    area_ha = ndimage.sum(pixel_area_m2, labels, index=np.arange(1, n + 1)) / 10_000.0
    small = np.zeros(n + 1, dtype=bool)
    small[1:] = area_ha < mmu_ha
    drop = small[labels]
    codes = loss_map.codes.copy()
    codes[drop] = NO_LOSS
    conf = np.where(drop, 0.0, loss_map.confidence).astype(np.float32)
    return LossMap(codes, conf)
