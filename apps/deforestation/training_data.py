"""Labelled training data beyond the simulator: EuroSAT-layout patch folders, raster + label pairs.

EuroSAT layout: ``root/<ClassName>/<anything>.tif`` (13-band Sentinel-2 GeoTIFF, band order
B01…B08, B8A, B09…B12) or ``.jpg/.png`` RGB patches. A whole patch carries its class, so it
becomes a uniform per-pixel label (forest / non-forest).
Label rasters are reprojected (nearest) onto the image grid and mapped through ``class_map``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apps.deforestation.bands import MODEL_BANDS, SensorBands, Sentinel2L1C
from apps.deforestation.rasters import RasterSource, _open
from apps.deforestation.simulate import FOREST, NONFOREST
from core.errors import DataError

EUROSAT_CLASSES: tuple[str, ...] = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
    "PermanentCrop", "Residential", "River", "SeaLake",
)
EUROSAT_FOREST: frozenset[str] = frozenset({"Forest"})
IGNORE = 255  # label value the loss functions skip (unmapped label-raster classes)


class EuroSATMS(Sentinel2L1C):
    """EuroSAT multispectral GeoTIFF patches: all 13 bands in one file (the L1C stack order)."""

    name = "eurosat_ms"


@dataclass(frozen=True)
class PatchSet:
    """images (n, bands, h, w) float32 reflectance; labels (n, h, w) uint8; class of each patch."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]


def load_eurosat(root: Path, sensor: type[SensorBands] = EuroSATMS,
                 bands: Sequence[str] = MODEL_BANDS, limit_per_class: int | None = None) -> PatchSet:
    """Read a EuroSAT-layout tree; unknown class folders are an error (typos lose data)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; point to the EuroSAT root with class sub-folders")
    images, labels, classes = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name not in EUROSAT_CLASSES:
            raise DataError(f"{folder}: unknown EuroSAT class; expected one of "
                            f"{', '.join(EUROSAT_CLASSES)}")
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in (".tif", ".tiff", ".jpg", ".png"))
        for f in files[:limit_per_class]:
            scene = RasterSource(f, sensor, bands).read()
            label = FOREST if folder.name in EUROSAT_FOREST else NONFOREST
            images.append(scene.data)
            labels.append(np.where(scene.valid, label, IGNORE).astype(np.uint8))
            classes.append(folder.name)
    if not images:
        raise DataError(f"{root}: no patches found under class folders")
    shapes = {i.shape for i in images}
    if len(shapes) > 1:
        raise DataError(f"{root}: patches differ in shape {sorted(shapes)}; EuroSAT is 64×64")
    return PatchSet(np.stack(images), np.stack(labels), tuple(classes))


def reproject_labels(label_path: Path, source: RasterSource, class_map: Mapping[int, int],
                     window: object = None) -> np.ndarray:
    """Label raster resampled (nearest) onto ``source``'s grid, codes mapped via ``class_map``;
    unmapped codes and nodata become :data:`IGNORE`."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with _open(Path(label_path)) as ds:
        if ds.crs is None:
            raise DataError(f"{label_path}: label raster has no CRS; assign one first")
        with WarpedVRT(ds, crs=source.crs, transform=source.transform, width=source.width,
                       height=source.height, resampling=Resampling.nearest,
                       nodata=ds.nodata if ds.nodata is not None else IGNORE) as vrt:
            raw = vrt.read(1, window=window)
    lut = np.full(max(int(raw.max()), max(class_map, default=0)) + 1, IGNORE, dtype=np.uint8)
    for code, cls in class_map.items():
        lut[code] = cls
    return lut[raw.astype(np.int64)]
