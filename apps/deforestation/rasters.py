"""Reading satellite rasters onto one grid: multi-band files or one file per band (mixed 10/20/60 m).

Everything rasterio reads (GeoTIFF, COG, JPEG 2000) works. Coarser bands are resampled onto the
finest requested band's grid through a WarpedVRT, so a window read is exactly the same pixels as
the same slice of a whole-image read (tiling depends on that). rasterio/GDAL errors are turned
into :class:`DataError` naming the file, so a batch can report the file as failed and go on.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation.bands import MODEL_BANDS, SensorBands, sensor_by_name
from core.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scene:
    """Pixels of one window on the reference grid.

    ``data``: float32 (bands, rows, cols) reflectance (scale/offset applied), 0 where invalid;
    ``valid``: bool (rows, cols), False where any band is nodata/fill/NaN.
    """

    data: np.ndarray
    valid: np.ndarray
    transform: Any  # affine.Affine of this window
    crs: Any  # rasterio.crs.CRS or None
    band_names: tuple[str, ...]
    sensor: str


@dataclass(frozen=True)
class _BandFile:
    path: Path
    index: int  # 1-based band index inside the file


def _open(path: Path) -> Any:
    import rasterio
    from rasterio.errors import RasterioError

    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    try:
        return rasterio.open(path)
    except (RasterioError, OSError) as e:
        raise DataError(
            f"{path}: not a raster rasterio can read ({e}); check the file is a complete "
            "GeoTIFF/COG/JP2 (re-download it if it was truncated)"
        ) from e


_HANDLES = threading.local()
_HANDLES_PER_THREAD = 16


def _open_cached(path: Path) -> Any:
    """An open dataset for ``path``, kept per thread between reads.

    Batch tiles read small windows of the same files over and over; opening a GeoTIFF/JP2 costs
    more than reading a 200-px window of it. Handles are per thread (a rasterio dataset must not
    be shared between threads), keyed by path, size and mtime (a replaced file is reopened), and
    the least recently used one is closed beyond 16 per thread.
    """
    try:
        st = path.stat()
    except OSError:
        return _open(path)  # raises the DataError that names the missing file
    cache: OrderedDict[tuple[str, int, int], Any] = _HANDLES.__dict__.setdefault(
        "datasets", OrderedDict())
    key = (str(path), st.st_size, st.st_mtime_ns)
    ds = cache.pop(key, None)
    if ds is None or ds.closed:
        ds = _open(path)
    cache[key] = ds
    while len(cache) > _HANDLES_PER_THREAD:
        cache.popitem(last=False)[1].close()
    return ds


def _find_band_file(folder: Path, band_id: str, extensions: Sequence[str]) -> Path:
    hits = sorted(
        p for p in folder.iterdir()
        if p.suffix.lower() in extensions and p.stem.upper().endswith(band_id.upper())
    )
    if not hits:
        raise DataError(f"{folder}: no file for band {band_id} (expected a name ending in "
                        f"'{band_id}' with one of {', '.join(extensions)})")
    return hits[0]


def _resolve(source: Path | Mapping[str, Path], sensor: type[SensorBands],
             bands: Sequence[str]) -> dict[str, _BandFile]:
    if isinstance(source, Mapping):
        return {b: _BandFile(Path(source[b]), 1) for b in bands}
    if source.is_dir():
        ids = {b: sensor.band(b).band_id for b in bands}
        return {b: _BandFile(_find_band_file(source, ids[b], sensor.extensions), 1) for b in bands}
    return {b: _BandFile(source, sensor.file_index(b)) for b in bands}


class RasterSource:
    """A scene on disk: one multi-band file, a folder of per-band files, or {band: path}.

    ``bands`` are canonical names (default :data:`MODEL_BANDS`). Metadata (grid, CRS, nodata)
    is read on construction; pixels only by :meth:`read`.
    """

    def __init__(self, source: Path | str | Mapping[str, Path],
                 sensor: type[SensorBands] | str, bands: Sequence[str] = MODEL_BANDS,
                 resampling: str = "bilinear") -> None:
        self.sensor = sensor_by_name(sensor) if isinstance(sensor, str) else sensor
        self.bands = tuple(bands)
        self.resampling = resampling
        src = source if isinstance(source, Mapping) else Path(source)
        self.label = str(source)
        self.files = _resolve(src, self.sensor, self.bands)
        self._read_grid()

    def _read_grid(self) -> None:
        best = None
        for band, bf in self.files.items():
            with _open(bf.path) as ds:
                if bf.index > ds.count:
                    raise DataError(f"{bf.path} has {ds.count} band(s) but {self.sensor.name} "
                                    f"expects {band} as band {bf.index}; pick the right sensor")
                if best is None or abs(ds.transform.a) < abs(best[0].a) - 1e-12:
                    best = (ds.transform, ds.width, ds.height, ds.crs)
        if best is None:
            raise DataError(f"{self.label}: no bands requested")
        self.transform, self.width, self.height, self.crs = best

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the reference grid."""
        return self.height, self.width

    def read(self, window: Any = None) -> Scene:
        """Read ``window`` (rasterio Window on the reference grid; None = whole) as a Scene."""
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        win = window if window is not None else Window(0, 0, self.width, self.height)
        rows, cols = int(win.height), int(win.width)
        data = np.zeros((len(self.bands), rows, cols), dtype=np.float32)
        valid = np.ones((rows, cols), dtype=bool)
        with ExitStack() as stack:
            for i, band in enumerate(self.bands):
                bf = self.files[band]
                try:
                    raw, ok = self._read_band(stack, bf, win)
                except (RasterioError, OSError, ValueError) as e:
                    raise DataError(f"{bf.path}: reading band {band} failed ({e}); the file is "
                                    "corrupt or truncated, replace it") from e
                valid &= ok
                data[i] = raw.astype(np.float32) * self.sensor.scale + self.sensor.offset
        data[:, ~valid] = 0.0
        from rasterio.windows import transform as window_transform

        return Scene(data=data, valid=valid, transform=window_transform(win, self.transform),
                     crs=self.crs, band_names=self.bands, sensor=self.sensor.name)

    def _read_band(self, stack: ExitStack, bf: _BandFile, win: Any) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        ds = _open_cached(bf.path)
        nodata = ds.nodata if ds.nodata is not None else self.sensor.fill_dn
        same_grid = (ds.transform == self.transform and ds.width == self.width
                     and ds.height == self.height)
        if not same_grid:
            ds = stack.enter_context(WarpedVRT(
                ds, crs=self.crs, transform=self.transform, width=self.width,
                height=self.height, resampling=Resampling[self.resampling],
                src_nodata=nodata, nodata=nodata))
        raw = ds.read(bf.index, window=win)
        ok = np.ones(raw.shape, dtype=bool)
        if nodata is not None:
            ok &= raw != nodata
        if np.issubdtype(raw.dtype, np.floating):
            ok &= np.isfinite(raw)
        return raw, ok


def write_geotiff(path: Path, array: np.ndarray, transform: Any, crs: Any,
                  nodata: float | None = None, cog: bool = True) -> Path:
    """Write a (rows, cols) or (bands, rows, cols) array as a tiled, deflate-compressed COG."""
    import rasterio

    arr = array[None] if array.ndim == 2 else array
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "COG" if cog else "GTiff", "width": arr.shape[2], "height": arr.shape[1],
        "count": arr.shape[0], "dtype": arr.dtype.name, "crs": crs, "transform": transform,
        "nodata": nodata, "compress": "deflate",
    }
    if cog:
        profile["blocksize"] = 256
    else:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    return path
