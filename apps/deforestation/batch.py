"""Batch loss mapping over tiles as Dask tasks; resumable, same code locally or on a cluster.

Each tile task reads its window of both dates, predicts class probabilities and writes them
atomically (temp + rename) with a JSON record; a rerun skips tiles whose record exists, so a job
killed half-way resumes and produces byte-identical output. Assembly blends neighbouring tiles,
applies the minimum mapping unit over the whole mosaic and writes the loss map and confidence as
tiled COGs, the loss patches as polygons (``loss.geojson``, ``loss.gpkg``: :mod:`vectors`), per-tile
JSON stats and ``job.json`` (inputs, dates, parameters). A tile whose file is corrupt is recorded as failed (its
pixels become UNKNOWN) and the job goes on.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation.area import pixel_area_grid
from apps.deforestation.change import UNKNOWN, LossMap, apply_mmu, raw_loss
from apps.deforestation.rasters import RasterSource, write_geotiff
from apps.deforestation.tiling import Tile, blend_tile_outputs, tile_grid
from apps.deforestation.vectors import write_loss_vectors
from apps.progress import Progress
from core.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Which weights a worker loads (a path the workers can read)."""

    kind: str
    weights: Path
    in_bands: int
    torch_threads: int = 1


@dataclass(frozen=True)
class JobSpec:
    """A loss-mapping job over two co-registered scenes."""

    before: RasterSource
    after: RasterSource
    out_dir: Path
    model: ModelSpec
    tile_px: int = 256
    overlap_px: int = 32
    mmu_ha: float = 0.5
    # Acquisition dates (ISO); None → what the products state (acquisition.py), else unknown.
    before_date: str | None = None
    after_date: str | None = None
    continent: str = "americas"  # IPCC default biomass for the per-patch CO2 of the vectors
    # loss.geojson/loss.gpkg; off only where a job is a timing probe of the model pipeline
    vectors: bool = True

    def tiles(self) -> list[Tile]:
        return tile_grid(self.before.height, self.before.width, self.tile_px, self.overlap_px)

    def absolute(self) -> JobSpec:
        """The same job with every path absolute. Tasks run in worker processes whose working
        directory (and machine) is not the caller's: a relative path would be read, and the
        tiles written, somewhere else."""
        return dataclasses.replace(
            self, before=_absolute_source(self.before), after=_absolute_source(self.after),
            out_dir=self.out_dir.resolve(),
            model=dataclasses.replace(self.model, weights=Path(self.model.weights).resolve()))


def _absolute_source(source: RasterSource) -> RasterSource:
    absolute = copy.copy(source)
    absolute.files = {band: dataclasses.replace(bf, path=Path(bf.path).resolve())
                      for band, bf in source.files.items()}
    return absolute


@dataclass(frozen=True)
class TileOutcome:
    """What one tile task did: ``done``, ``skipped`` (already finished) or ``failed``."""

    name: str
    status: str
    seconds: float = 0.0
    error: str | None = None
    cpu_s: float = 0.0  # CPU seconds of the task's thread (time.thread_time) on its worker
    pid: int = 0  # the worker process it ran in


@dataclass(frozen=True)
class JobResult:
    """Summary of a job; paths are None when the job stopped before assembly."""

    out_dir: Path
    tiles_total: int
    tiles_done: int
    tiles_skipped: int
    failed: tuple[tuple[str, str], ...]
    wall_s: float
    lossmap: Path | None = None
    confidence: Path | None = None
    loss_geojson: Path | None = None
    loss_gpkg: Path | None = None
    loss_patches: int = 0
    loss_pixels: int = 0
    per_tile: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # Tile tasks that ran in other processes than this one (workers of a cluster, maybe on other
    # machines: this process's meter does not see them, see serving.record_batch) and the
    # thread CPU seconds they reported.
    remote_tasks: int = 0
    remote_cpu_s: float = 0.0

    @property
    def mapped_any(self) -> bool:
        """True when at least one tile has a result (a job whose every tile failed maps nothing)."""
        return len(self.failed) < self.tiles_total

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("out_dir", "lossmap", "confidence", "loss_geojson", "loss_gpkg"):
            d[k] = str(d[k]) if d[k] is not None else None
        d["failed"] = [{"tile": n, "error": e} for n, e in self.failed]
        return d


_MODELS: dict[tuple[str, str, float], Any] = {}
_MODELS_LOCK = threading.Lock()


def cached_model(spec: ModelSpec) -> Any:
    """The loaded model of ``spec``, shared per weights file and modification time."""
    from apps.deforestation.model import load

    key = (spec.kind, str(spec.weights), Path(spec.weights).stat().st_mtime)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load(spec.kind, spec.in_bands, Path(spec.weights))
        return _MODELS[key]


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, array)


def _tile_dir(out_dir: Path) -> Path:
    d = out_dir / "tiles"
    d.mkdir(parents=True, exist_ok=True)
    return d


def process_tile(spec: JobSpec, tile: Tile) -> TileOutcome:
    """Dask task: predict one tile unless its record already exists."""
    import torch

    from apps.deforestation.model import predict_probs

    tdir = _tile_dir(spec.out_dir)
    record = tdir / f"{tile.name}.json"
    if record.exists():
        return TileOutcome(tile.name, "skipped")
    t0, cpu0 = time.perf_counter(), time.thread_time()
    try:
        before, after = spec.before.read(tile.window()), spec.after.read(tile.window())
    except DataError as e:
        msg = str(e)
        logger.warning("tile %s failed: %s", tile.name, msg)
        _atomic_write(tdir / f"{tile.name}.failed.json",
                      lambda p: p.write_text(json.dumps({"tile": tile.name, "error": msg})))
        return TileOutcome(tile.name, "failed", time.perf_counter() - t0, msg,
                           time.thread_time() - cpu0, os.getpid())
    torch.set_num_threads(spec.model.torch_threads)
    model = cached_model(spec.model)
    probs = predict_probs(model, np.stack([before.data, after.data]))  # both dates, one pass
    valid = before.valid & after.valid
    _atomic_write(tdir / f"{tile.name}.npy", lambda p: _save_npy(p, probs))
    _atomic_write(tdir / f"{tile.name}.valid.npy", lambda p: _save_npy(p, valid))
    seconds = time.perf_counter() - t0
    stats = {"tile": tile.name, "index": tile.index, "core": [tile.core_row, tile.core_col,
             tile.core_rows, tile.core_cols], "valid_fraction": float(valid.mean()),
             "model": spec.model.kind}
    _atomic_write(record, lambda p: p.write_text(json.dumps(stats, indent=1)))
    (tdir / f"{tile.name}.failed.json").unlink(missing_ok=True)
    return TileOutcome(tile.name, "done", seconds, cpu_s=time.thread_time() - cpu0,
                       pid=os.getpid())


def check_pair(before: RasterSource, after: RasterSource) -> None:
    """Both dates must share one grid (co-registered); DataError says how to fix it."""
    if before.shape != after.shape or before.transform != after.transform or (
            before.crs != after.crs):
        raise DataError(f"before {before.label} {before.shape} and after {after.label} "
                        f"{after.shape} are not on the same grid; warp one onto the other "
                        "(gdalwarp -te/-tr/-t_srs) first")


JOB_RECORD = "job.json"


def _source_record(src: RasterSource) -> dict[str, Any]:
    files = {band: str(Path(bf.path).resolve()) for band, bf in src.files.items()}
    # A path (file or band folder) reopens as it was given (made absolute: the map may be drawn
    # from another working directory); a {band: path} mapping as a mapping.
    given = Path(src.label)
    source: Any = str(given.resolve()) if given.exists() else files
    return {"source": source, "sensor": src.sensor.name, "files": files}


def job_dates(spec: JobSpec) -> tuple[str | None, str | None]:
    """(before, after) acquisition dates: as given, else as the products state them."""
    from apps.deforestation.acquisition import acquisition_date

    def one(given: str | None, src: RasterSource) -> str | None:
        return given or acquisition_date([Path(src.label)] + [bf.path for bf in
                                                              src.files.values()])

    return one(spec.before_date, spec.before), one(spec.after_date, spec.after)


def write_job_record(spec: JobSpec) -> Path:
    """``job.json``: the inputs (reopenable), dates and parameters, for maps and audits."""
    before, after = job_dates(spec)
    record = {"before": {**_source_record(spec.before), "date": before},
              "after": {**_source_record(spec.after), "date": after},
              "model": spec.model.kind, "tile_px": spec.tile_px, "overlap_px": spec.overlap_px,
              "mmu_ha": spec.mmu_ha, "continent": spec.continent}
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    path = spec.out_dir / JOB_RECORD
    _atomic_write(path, lambda p: p.write_text(json.dumps(record, indent=1)))
    return path


def _run_tasks(spec: JobSpec, tiles: list[Tile], client: Any,
               progress: Progress) -> list[TileOutcome]:
    from distributed import as_completed

    futures = client.map(process_tile, [spec] * len(tiles), tiles, pure=False)
    outcomes = []
    for done, fut in enumerate(as_completed(futures), start=1):
        outcomes.append(fut.result())
        if progress:
            progress("tiles", done, len(tiles))
    return outcomes


def run_job(spec: JobSpec, client: Any = None, progress: Progress = None,
            max_tiles: int | None = None, n_workers: int = 1,
            threads_per_worker: int = 2) -> JobResult:
    """Run (or resume) a job. ``client``: a dask.distributed Client; None → a LocalCluster.

    ``max_tiles`` stops after that many tiles without assembling (used to simulate a crash).
    """
    from distributed import Client, LocalCluster

    check_pair(spec.before, spec.after)
    spec = spec.absolute()
    t0 = time.perf_counter()
    write_job_record(spec)
    tiles = spec.tiles()
    todo = tiles if max_tiles is None else tiles[:max_tiles]
    cluster = None
    if client is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                               processes=False, dashboard_address=None)
        client = Client(cluster)
    try:
        outcomes = _run_tasks(spec, todo, client, progress)
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    failed = tuple(sorted((o.name, o.error or "") for o in outcomes if o.status == "failed"))
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped")}
    base = {"out_dir": spec.out_dir, "tiles_total": len(tiles), "tiles_done": counts["done"],
            "tiles_skipped": counts["skipped"], "failed": failed}
    remote = [o for o in outcomes if o.pid and o.pid != os.getpid()]
    base |= {"remote_tasks": len(remote), "remote_cpu_s": sum(o.cpu_s for o in remote)}
    if max_tiles is not None and max_tiles < len(tiles):
        return JobResult(**base, wall_s=time.perf_counter() - t0)
    # Every tile has its record now: a temp file left is from a worker killed mid-write.
    for debris in _tile_dir(spec.out_dir).glob(".*.tmp"):
        debris.unlink(missing_ok=True)
    assembled = assemble(spec, tiles, {n for n, _ in failed})
    return JobResult(**base, wall_s=time.perf_counter() - t0, **assembled)


class _TileOutputs:
    """Tile probabilities loaded once each while assembling; tiles come in row-major order and
    only neighbours overlap, so the cache keeps about three rows of tiles."""

    def __init__(self, tdir: Path, keep: int) -> None:
        self.tdir, self.keep = tdir, keep
        self._loaded: dict[str, np.ndarray] = {}

    def get(self, t: Tile) -> np.ndarray:
        if t.name not in self._loaded:
            self._loaded[t.name] = np.load(self.tdir / f"{t.name}.npy").reshape(
                6, t.read_rows, t.read_cols)
            if len(self._loaded) > self.keep:
                self._loaded.pop(next(iter(self._loaded)))  # oldest first (dicts keep order)
        return self._loaded[t.name]


def _core_loss(spec: JobSpec, tile: Tile, tiles: list[Tile], failed: set[str],
               outputs: _TileOutputs) -> LossMap:
    rows, cols = spec.before.shape
    tdir = spec.out_dir / "tiles"
    nb = [t for t in tiles if t.name not in failed
          and t.read_row < tile.core_row + tile.core_rows and tile.core_row < t.read_row + t.read_rows
          and t.read_col < tile.core_col + tile.core_cols and tile.core_col < t.read_col + t.read_cols]
    outs = [(t, outputs.get(t)) for t in nb]
    blended = blend_tile_outputs(tile, rows, cols, spec.overlap_px, outs)
    own = np.load(tdir / f"{tile.name}.valid.npy")
    r, c = tile.core_row - tile.read_row, tile.core_col - tile.read_col
    valid = own[r:r + tile.core_rows, c:c + tile.core_cols]
    return raw_loss(blended[:3], blended[3:], valid)


def assemble(spec: JobSpec, tiles: list[Tile], failed: set[str]) -> dict[str, Any]:
    """Blend tile outputs, apply the MMU, write COGs and per-tile stats."""
    rows, cols = spec.before.shape
    codes = np.full((rows, cols), UNKNOWN, dtype=np.uint8)
    conf = np.zeros((rows, cols), dtype=np.float32)
    per_row = -(-cols // spec.tile_px)
    outputs = _TileOutputs(spec.out_dir / "tiles", keep=3 * per_row + 2)
    for tile in tiles:
        if tile.name in failed:
            continue
        lm = _core_loss(spec, tile, tiles, failed, outputs)
        cs = (slice(tile.core_row, tile.core_row + tile.core_rows),
              slice(tile.core_col, tile.core_col + tile.core_cols))
        codes[cs], conf[cs] = lm.codes, lm.confidence
    grid = pixel_area_grid(spec.before.transform, spec.before.crs, rows, cols)
    final = apply_mmu(LossMap(codes, conf), grid.per_pixel(0, 0, rows, cols), spec.mmu_ha)
    lossmap = write_geotiff(spec.out_dir / "lossmap.tif", final.codes, spec.before.transform,
                            spec.before.crs, nodata=UNKNOWN)
    conf_pct = np.round(final.confidence * 100).astype(np.uint8)
    confidence = write_geotiff(spec.out_dir / "confidence.tif", conf_pct, spec.before.transform,
                               spec.before.crs)
    vectors = write_loss_vectors(
        spec.out_dir, final.codes, final.confidence, spec.before.transform, spec.before.crs, grid,
        spec.continent, job_dates(spec),
        {"lossmap": "lossmap.tif", "mmu_ha": spec.mmu_ha, "model": spec.model.kind},
    ) if spec.vectors else None
    per_tile = []
    for tile in tiles:
        core = final.codes[tile.core_row:tile.core_row + tile.core_rows,
                           tile.core_col:tile.core_col + tile.core_cols]
        stats = {"tile": tile.name, "failed": tile.name in failed,
                 "loss_ha": grid.sum_ha(core == 1, tile.core_row, tile.core_col),
                 "loss_pixels": int((core == 1).sum()), "unknown_pixels": int((core == UNKNOWN).sum())}
        (spec.out_dir / "stats").mkdir(exist_ok=True)
        (spec.out_dir / "stats" / f"{tile.name}.json").write_text(json.dumps(stats, indent=1))
        per_tile.append(stats)
    return {"lossmap": lossmap, "confidence": confidence,
            "loss_geojson": vectors.geojson if vectors else None,
            "loss_gpkg": vectors.gpkg if vectors else None,
            "loss_patches": vectors.n_patches if vectors else 0,
            "loss_pixels": int((final.codes == 1).sum()), "per_tile": tuple(per_tile)}
