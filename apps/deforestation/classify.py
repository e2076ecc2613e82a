"""Classify one date: non-forest / forest / cloud per pixel, on the input's own grid, tiled.

The same tiles, overlap and blending as the batch job (:mod:`tiling`): each tile is read with
``overlap_px`` of context, predicted once, and every tile's core is the weighted blend of the
tiles whose read windows cover it, so a model whose edge effect stays within ``overlap_px / 2``
gives exactly the whole-image classes. Tiles are predicted on demand and only about three rows
of them are kept, and the output is written window by window, so a large scene never sits in
memory as class probabilities.

Output: ``<out_dir>/<input stem>.classes.tif``, uint8 COG on the input's grid and CRS:
0 non-forest, 1 forest, 2 cloud, 255 unknown (nodata on any band).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation.rasters import RasterSource
from apps.deforestation.simulate import CLOUD, FOREST, NONFOREST
from apps.deforestation.tiling import Tile, blend_tile_outputs, tile_grid

UNKNOWN_CLASS = 255
CLASS_NAMES: dict[int, str] = {NONFOREST: "non_forest", FOREST: "forest", CLOUD: "cloud",
                               UNKNOWN_CLASS: "unknown"}
OUTPUT_SUFFIX = ".classes.tif"


@dataclass(frozen=True)
class ClassifiedFile:
    """One input's outcome. ``shares``: fraction (0–1) of the input's pixels per class name."""

    input: str
    output: str | None
    pixels: int = 0
    shares: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def output_path(source: Path, out_dir: Path) -> Path:
    """``<out_dir>/<stem>.classes.tif`` (a per-band folder's stem is the folder name)."""
    stem = source.name if source.is_dir() else source.stem
    return Path(out_dir) / f"{stem}{OUTPUT_SUFFIX}"


class _TileProbs:
    """Class probabilities and validity of tiles, predicted once each on first use; the oldest
    are dropped beyond ``keep`` (tiles are visited in row-major order and only neighbours
    overlap, so about three rows of tiles are ever needed at once)."""

    def __init__(self, source: RasterSource, model: Any, keep: int) -> None:
        self.source, self.model, self.keep = source, model, keep
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def get(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        from apps.deforestation.model import predict_probs

        if tile.index not in self._cache:
            scene = self.source.read(tile.window())
            self._cache[tile.index] = (predict_probs(self.model, scene.data), scene.valid)
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return self._cache[tile.index]


def _overlaps(tile: Tile, other: Tile) -> bool:
    return (other.read_row < tile.core_row + tile.core_rows
            and tile.core_row < other.read_row + other.read_rows
            and other.read_col < tile.core_col + tile.core_cols
            and tile.core_col < other.read_col + other.read_cols)


def _core_classes(tile: Tile, tiles: list[Tile], probs: _TileProbs, rows: int, cols: int,
                  overlap_px: int) -> np.ndarray:
    outs = [(t, probs.get(t)[0]) for t in tiles if _overlaps(tile, t)]
    blended = blend_tile_outputs(tile, rows, cols, overlap_px, outs)
    codes = blended.argmax(0).astype(np.uint8)
    _, valid = probs.get(tile)
    r, c = tile.core_row - tile.read_row, tile.core_col - tile.read_col
    codes[~valid[r:r + tile.core_rows, c:c + tile.core_cols]] = UNKNOWN_CLASS
    return codes


def classify_source(source: RasterSource, model: Any, out_path: Path, tile_px: int = 256,
                    overlap_px: int = 32) -> dict[int, int]:
    """Write the class map of ``source`` to ``out_path`` (COG); returns pixel counts per code.

    Nothing is left at ``out_path`` if reading fails half-way (the DataError propagates).
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy
    from rasterio.windows import Window

    rows, cols = source.shape
    tiles = tile_grid(rows, cols, tile_px, overlap_px)
    probs = _TileProbs(source, model, keep=3 * -(-cols // tile_px) + 3)
    counts = dict.fromkeys(CLASS_NAMES, 0)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp.tif")
    cog = out_path.with_name(f".{out_path.name}.{os.getpid()}.cog.tif")
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": "uint8",
               "crs": source.crs, "transform": source.transform, "nodata": UNKNOWN_CLASS,
               "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            for tile in tiles:
                codes = _core_classes(tile, tiles, probs, rows, cols, overlap_px)
                dst.write(codes, 1, window=Window(tile.core_col, tile.core_row,
                                                  tile.core_cols, tile.core_rows))
                values, n = np.unique(codes, return_counts=True)
                for v, k in zip(values.tolist(), n.tolist(), strict=True):
                    counts[v] += k
        rio_copy(tmp, cog, driver="COG", compress="deflate", blocksize=256)
        os.replace(cog, out_path)  # a reader never sees a half-written class map
    finally:
        tmp.unlink(missing_ok=True)
        cog.unlink(missing_ok=True)
    return counts


def shares(counts: dict[int, int]) -> dict[str, float]:
    """Fractions (0–1) of all pixels per class name."""
    total = sum(counts.values())
    return {CLASS_NAMES[k]: (v / total if total else 0.0) for k, v in counts.items()}


@dataclass(frozen=True)
class ClassifyReport:
    """A ``classify`` call: every file's outcome, the model used and why, and the energy."""

    files: tuple[ClassifiedFile, ...]
    model: str
    weights: str
    model_reason: str
    gate_verdict: str | None
    sensor: str
    energy: dict[str, Any]

    @property
    def failed(self) -> tuple[ClassifiedFile, ...]:
        return tuple(f for f in self.files if not f.ok)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``greenstack tiles classify --json``)."""
        return {"model": self.model, "weights": self.weights, "model_reason": self.model_reason,
                "gate_verdict": self.gate_verdict, "sensor": self.sensor,
                "classes": {str(k): v for k, v in CLASS_NAMES.items()},
                "files": [{"input": f.input, "output": f.output, "pixels": f.pixels,
                           "shares": f.shares, "seconds": f.seconds, "error": f.error}
                          for f in self.files],
                "energy": self.energy}
