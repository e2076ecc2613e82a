"""Tiles with overlap and blending, so tiled output equals whole-image output.

Each tile owns a core; it is read with ``overlap_px`` of context on every side (clamped at the
image edge). Predictions are blended with weights that are zero in the outer half of the overlap
(where the artificial window edge contaminates a CNN's output) and ramp to one across the inner
half. A model whose edge effect reaches at most ``overlap_px // 2`` pixels (and whose stride
divides ``tile_px`` and ``overlap_px``) therefore gives exactly the whole-image result; a model
with a larger receptive field gives seamless, nearly equal output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError


@dataclass(frozen=True)
class Tile:
    """One tile: its index, its core and its read window (row/col offsets and sizes in px)."""

    index: int
    core_row: int
    core_col: int
    core_rows: int
    core_cols: int
    read_row: int
    read_col: int
    read_rows: int
    read_cols: int

    @property
    def name(self) -> str:
        """Stable file-name stem, e.g. ``r000512_c001024``."""
        return f"r{self.core_row:06d}_c{self.core_col:06d}"

    def window(self) -> object:
        """rasterio Window of the read area."""
        from rasterio.windows import Window

        return Window(self.read_col, self.read_row, self.read_cols, self.read_rows)


def tile_grid(rows: int, cols: int, tile_px: int, overlap_px: int) -> list[Tile]:
    """Tiles covering a (rows, cols) image in row-major order."""
    if tile_px < 1 or overlap_px < 0:
        raise ConfigError(f"tile_px must be >= 1 and overlap_px >= 0 (got {tile_px}, {overlap_px})")
    if overlap_px > tile_px:
        raise ConfigError(f"overlap_px {overlap_px} exceeds tile_px {tile_px}; use a larger tile")
    tiles = []
    for r in range(0, rows, tile_px):
        for c in range(0, cols, tile_px):
            cr, cc = min(tile_px, rows - r), min(tile_px, cols - c)
            r0, c0 = max(0, r - overlap_px), max(0, c - overlap_px)
            r1, c1 = min(rows, r + cr + overlap_px), min(cols, c + cc + overlap_px)
            tiles.append(Tile(len(tiles), r, c, cr, cc, r0, c0, r1 - r0, c1 - c0))
    return tiles


def _axis_weights(start: int, length: int, total: int, overlap_px: int) -> np.ndarray:
    w = np.ones(length, dtype=np.float64)
    if overlap_px == 0:
        return w
    margin = overlap_px // 2
    ramp = np.clip((np.arange(length) - margin + 1) / max(overlap_px - margin, 1), 0.0, 1.0)
    if start > 0:  # left edge is a window edge, not the image edge
        w = np.minimum(w, ramp)
    if start + length < total:
        w = np.minimum(w, ramp[::-1])
    return w


def blend_weights(tile: Tile, rows: int, cols: int, overlap_px: int) -> np.ndarray:
    """(read_rows, read_cols) blending weights of ``tile`` in a (rows, cols) image."""
    wy = _axis_weights(tile.read_row, tile.read_rows, rows, overlap_px)
    wx = _axis_weights(tile.read_col, tile.read_cols, cols, overlap_px)
    return wy[:, None] * wx[None, :]


class Blender:
    """Accumulates weighted per-tile outputs (channels, rows, cols) into one image."""

    def __init__(self, channels: int, rows: int, cols: int, overlap_px: int) -> None:
        self.rows, self.cols, self.overlap_px = rows, cols, overlap_px
        self._sum = np.zeros((channels, rows, cols), dtype=np.float64)
        self._weight = np.zeros((rows, cols), dtype=np.float64)

    def add(self, tile: Tile, output: np.ndarray) -> None:
        """Add ``output`` (channels, read_rows, read_cols) of ``tile``."""
        w = blend_weights(tile, self.rows, self.cols, self.overlap_px)
        rs = slice(tile.read_row, tile.read_row + tile.read_rows)
        cs = slice(tile.read_col, tile.read_col + tile.read_cols)
        self._sum[:, rs, cs] += output * w
        self._weight[rs, cs] += w

    def result(self) -> np.ndarray:
        """Blended image (float32); raises if some pixel got no weight."""
        if np.any(self._weight <= 0):
            raise ConfigError("some pixels received no tile output; tiles do not cover the image")
        return (self._sum / self._weight).astype(np.float32)


def blend_tile_outputs(tile: Tile, rows: int, cols: int, overlap_px: int,
                       neighbours: list[tuple[Tile, np.ndarray]]) -> np.ndarray:
    """Blended output over ``tile``'s core from every tile whose read window touches it."""
    ch = neighbours[0][1].shape[0]
    acc = np.zeros((ch, tile.core_rows, tile.core_cols))
    wsum = np.zeros((tile.core_rows, tile.core_cols))
    for other, out in neighbours:
        r0, r1 = max(tile.core_row, other.read_row), min(tile.core_row + tile.core_rows,
                                                         other.read_row + other.read_rows)
        c0, c1 = max(tile.core_col, other.read_col), min(tile.core_col + tile.core_cols,
                                                         other.read_col + other.read_cols)
        if r0 >= r1 or c0 >= c1:
            continue
        w = blend_weights(other, rows, cols, overlap_px)
        src = (slice(r0 - other.read_row, r1 - other.read_row),
               slice(c0 - other.read_col, c1 - other.read_col))
        dst = (slice(r0 - tile.core_row, r1 - tile.core_row),
               slice(c0 - tile.core_col, c1 - tile.core_col))
        acc[(slice(None), *dst)] += out[(slice(None), *src)] * w[src]
        wsum[dst] += w[src]
    return (acc / wsum).astype(np.float32)


def predict_tiled(read: Callable[[Tile], np.ndarray], predict: Callable[[np.ndarray], np.ndarray],
                  rows: int, cols: int, tile_px: int, overlap_px: int) -> np.ndarray:
    """Run ``predict`` (bands, h, w) → (channels, h, w) over tiles read by ``read(tile)``."""
    blender: Blender | None = None
    for tile in tile_grid(rows, cols, tile_px, overlap_px):
        out = predict(read(tile))
        if blender is None:
            blender = Blender(out.shape[0], rows, cols, overlap_px)
        blender.add(tile, out)
    if blender is None:
        raise ConfigError("the image is empty; nothing to tile")
    return blender.result()
