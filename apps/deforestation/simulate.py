"""Bitemporal scene simulator with known ground truth (everything it produces is SIMULATED).

A pair of dates over forest with fields, a river, roads/built-up patches, new clearings of varied
size and shape between the dates, clouds with soft edges, haze and sensor noise, rendered for
Sentinel-2 (10 m), Landsat-8 (30 m, HLS band-pass) or 8-bit RGB. Reflectances: :mod:`spectra`.
Labels: 0 non-forest, 1 forest, 2 cloud (opacity > 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from apps.deforestation import spectra
from apps.deforestation.bands import MODEL_BANDS
from core.errors import ConfigError

NONFOREST, FOREST, CLOUD = 0, 1, 2
CLASS_NAMES = ("non_forest", "forest", "cloud")
SIM_SENSORS: dict[str, float] = {"sentinel2_l1c": 10.0, "landsat8": 30.0, "rgb8": 10.0}
_NOISE_SIGMA = {"sentinel2_l1c": 0.004, "landsat8": 0.003, "rgb8": 0.0}  # reflectance units
_RGB_GAIN = 3.0  # 8-bit display stretch: reflectance 0–0.33 → 0–255


@dataclass(frozen=True)
class SimPair:
    """One simulated bitemporal scene. Arrays: images (bands, n, n) float32; maps (n, n)."""

    before: np.ndarray
    after: np.ndarray
    label_before: np.ndarray  # uint8 0/1/2
    label_after: np.ndarray
    clearing_px: np.ndarray  # int32: size in px of the new clearing a pixel belongs to, else 0
    sensor: str
    pixel_m: float


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-9)


def _blob(rng: np.random.Generator, n: int, area_px: float) -> np.ndarray:
    """An irregular ellipse of about ``area_px`` pixels at a random place."""
    cy, cx = rng.uniform(0, n, 2)
    aspect = rng.uniform(1.0, 3.0)
    a = np.sqrt(area_px * aspect / np.pi)
    b = a / aspect
    t = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
    v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    wobble = 1.0 + 0.25 * _smooth_noise(rng, n, 3.0)  # ragged, not geometric, edges
    return (u / max(a, 0.5)) ** 2 + (v / max(b, 0.5)) ** 2 <= wobble


def _land_cover(rng: np.random.Generator, n: int) -> np.ndarray:
    cover = np.full((n, n), "forest", dtype=object)
    for _ in range(rng.integers(0, 4)):  # fields: axis-aligned rectangles
        r, c = rng.integers(0, n, 2)
        h, w = rng.integers(n // 8, n // 2, 2)
        cover[r:r + h, c:c + w] = rng.choice(["crop", "pasture", "soil"])
    if rng.random() < 0.4:  # a meandering river
        yy, xx = np.mgrid[0:n, 0:n]
        path = n / 2 + n / 6 * np.sin(xx / n * rng.uniform(2, 6) + rng.uniform(0, 6))
        cover[np.abs(yy - path) < rng.uniform(1, 3)] = "water"
    if rng.random() < 0.3:  # a road with built-up patches
        c = rng.integers(0, n)
        cover[:, c:c + 2] = "built"
    return cover


def _clear(rng: np.random.Generator, cover: np.ndarray, pixel_m: float) -> np.ndarray:
    """Cut new clearings (0.2–10 ha, log-uniform) into forest; returns px size per cleared px."""
    n = cover.shape[0]
    sizes = np.zeros((n, n), dtype=np.int32)
    for _ in range(rng.integers(1, 5)):
        area_ha = float(np.exp(rng.uniform(np.log(0.2), np.log(10.0))))
        blob = _blob(rng, n, area_ha * 1e4 / pixel_m**2) & (cover == "forest")
        if blob.sum() == 0:
            continue
        cover[blob] = rng.choice(["soil", "slash", "pasture"])
        sizes[blob] = int(blob.sum())
    return sizes


def _render(rng: np.random.Generator, cover: np.ndarray, bands: tuple[str, ...],
            sensor: str) -> tuple[np.ndarray, np.ndarray]:
    n = cover.shape[0]
    img = np.zeros((len(bands), n, n))
    texture = 1.0 + 0.12 * _smooth_noise(rng, n, 1.0)
    for surface in spectra.SURFACES:
        m = cover == surface
        if m.any():
            gain = rng.uniform(0.85, 1.15)  # phenology / moisture differences between scenes
            img[:, m] = np.outer(spectra.reflectance(surface, bands), texture[m] * gain)
    img *= rng.uniform(0.55, 1.2)  # illumination (sun elevation, no BRDF correction)
    haze = rng.uniform(0.0, 0.08) * (1 + 0.3 * _smooth_noise(rng, n, 8.0)).clip(0)
    img += np.outer(spectra.haze_profile(bands), haze).reshape(img.shape)
    opacity = np.zeros((n, n))
    if rng.random() < 0.45:
        opacity = np.clip((_smooth_noise(rng, n, 6.0) - rng.uniform(0.3, 1.3)) * 1.5, 0, 1)
        cloud = np.array(spectra.reflectance("cloud", bands))[:, None, None]
        img = img * (1 - opacity) + cloud * opacity
    if sensor == "landsat8":
        img *= np.array([spectra.L8_FROM_S2_SLOPE[b] for b in bands])[:, None, None]
    img += rng.normal(0, _NOISE_SIGMA[sensor], img.shape)
    if sensor == "rgb8":  # 8-bit display product: stretched, quantised, clipped
        img = np.round(np.clip(img * _RGB_GAIN, 0, 1) * 255) / 255
    labels = np.where(np.isin(cover, list(spectra.FOREST_CLASSES)), FOREST, NONFOREST)
    labels[opacity > 0.5] = CLOUD
    return img.astype(np.float32), labels.astype(np.uint8)


def simulate_pair(rng: np.random.Generator, size_px: int = 64, sensor: str = "sentinel2_l1c",
                  bands: tuple[str, ...] = MODEL_BANDS) -> SimPair:
    """One simulated before/after pair of ``size_px`` × ``size_px`` pixels."""
    if sensor not in SIM_SENSORS:
        raise ConfigError(f"simulator knows {sorted(SIM_SENSORS)}, not {sensor!r}")
    pixel_m = SIM_SENSORS[sensor]
    cover = _land_cover(rng, size_px)
    before, lb = _render(rng, cover, bands, sensor)
    clearing = _clear(rng, cover, pixel_m)
    after, la = _render(rng, cover, bands, sensor)
    return SimPair(before, after, lb, la, clearing, sensor, pixel_m)


def simulate_pairs(seed: int, count: int, size_px: int = 64,
                   sensors: tuple[str, ...] = tuple(SIM_SENSORS)) -> list[SimPair]:
    """``count`` pairs cycling through ``sensors``; same seed → same scenes."""
    rng = np.random.default_rng(seed)
    return [simulate_pair(rng, size_px, sensors[i % len(sensors)]) for i in range(count)]
