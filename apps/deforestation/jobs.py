"""Background loss-mapping jobs for the REST surface: one folder and one status file per job.

Status lives in ``<jobs>/<id>/status.json`` (written atomically) so it survives a server restart;
a job that was running when the server died shows ``interrupted`` and can be resubmitted with the
same inputs (finished tiles are reused by the batch layer). A job rejected at submission (not a
raster, truncated, empty, off-grid) leaves no folder and no bytes behind, and no error text a
client sees names a server path or a job folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from apps.deforestation.batch import JobSpec, ModelSpec, run_job
from apps.deforestation.rasters import RasterSource
from core.errors import DataError, GreenstackError

logger = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".tif", ".tiff", ".jp2")  # rasters rasterio reads from one self-contained file
MAX_NAME_BYTES = 255  # longest file or folder name Linux file systems accept
MAX_PATH_BYTES = 4096
_STRIP_ROWS = 256  # rows read at a time when checking that an upload is complete
# An absolute path (starting the text or after a space, quote or parenthesis); group 1 = its name.
_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(])/(?:[^\s'\"/:;,()]+/)+([^\s'\"/:;,()]*)")


def check_upload_name(filename: str | None, field: str) -> str:
    """The suffix to store an upload under; DataError unless the name is a plain raster file
    name (no folders, no control characters, at most 255 bytes, .tif/.tiff/.jp2)."""
    name = filename or f"{field}.tif"
    shown = name if len(name) <= 60 else name[:57] + "..."
    if ("/" in name or "\\" in name or name in (".", "..") or len(name.encode()) > MAX_NAME_BYTES
            or any(ord(c) < 32 for c in name)):
        raise DataError(f"{field}: file name {shown!r} must be a plain file name (no folders or "
                        f"control characters, at most {MAX_NAME_BYTES} bytes)")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"{field}: file name {shown!r} must end in {', '.join(UPLOAD_SUFFIXES)} "
                        "(a GeoTIFF/COG or JPEG 2000 raster)")
    return suffix


def check_server_path(text: str, field: str) -> Path:
    """``text`` as a Path; DataError if it holds NUL/control characters or overlong names."""
    if any(ord(c) < 32 for c in text):
        raise DataError(f"{field}: the path holds a control character (e.g. %00); send a plain "
                        "path")
    if len(text.encode()) > MAX_PATH_BYTES or any(
            len(part.encode()) > MAX_NAME_BYTES for part in text.split("/")):
        raise DataError(f"{field}: the path is too long (at most {MAX_PATH_BYTES} bytes, "
                        f"{MAX_NAME_BYTES} per file or folder name)")
    return Path(text)


def check_complete(source: RasterSource) -> None:
    """Read every pixel once, in row strips: DataError if the raster is truncated or corrupt."""
    from rasterio.windows import Window

    rows, cols = source.shape
    for top in range(0, rows, _STRIP_ROWS):
        source.read(Window(0, top, cols, min(_STRIP_ROWS, rows - top)))


class JobManager:
    """Submit jobs (each in a thread with its own LocalCluster) and read their status."""

    def __init__(self, root: Path, model_spec: Callable[[], ModelSpec], meter: Any = None) -> None:
        self.root = Path(root)
        self.model_spec = model_spec
        self.meter = meter
        self._threads: dict[str, threading.Thread] = {}

    def new_id(self) -> str:
        job_id = secrets.token_hex(6)
        (self.root / job_id / "input").mkdir(parents=True)
        return job_id

    def job_dir(self, job_id: str) -> Path:
        # Ids are 12 hex digits; anything else (a 5,000-character id) never touches the disk.
        if not (job_id.isalnum() and len(job_id) <= 64) or not (self.root / job_id).is_dir():
            raise DataError(f"no job {job_id!r}; submit one with POST /v1/deforestation/jobs")
        return self.root / job_id

    def _write(self, job_id: str, **status: Any) -> None:
        path = self.root / job_id / "status.json"
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(status, updated_unix_s=time.time())
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(current, indent=1, default=str))
        os.replace(tmp, path)

    def client_text(self, text: str, job_id: str | None = None,
                    names: Mapping[str, str] | None = None) -> str:
        """``text`` as a client may see it: ``names`` ({server path: label}) replaced, the job id
        hidden and any other absolute path cut to its last component."""
        for path, label in (names or {}).items():
            text = text.replace(path, label)
        if job_id:
            text = text.replace(job_id, "<job>")
        return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "<server path>", text)

    def _discard(self, job_id: str, error: BaseException,
                 names: Mapping[str, str] | None = None) -> GreenstackError | None:
        """Remove a rejected job's folder; the error to raise instead (paths scrubbed), if any."""
        shutil.rmtree(self.root / job_id, ignore_errors=True)
        self._threads.pop(job_id, None)
        if not isinstance(error, GreenstackError):
            return None
        text = self.client_text(str(error), job_id, names)
        try:
            return type(error)(text)
        except TypeError:  # a subclass with another constructor: keep the class's meaning
            return DataError(text)

    def submit_uploads(self, uploads: Mapping[str, bytes], sensor: str, suffix: str = ".tif",
                       tile_px: int = 256, overlap_px: int = 32, mmu_ha: float = 0.5,
                       on_done: Callable[[str, Any, Any], Any] | None = None) -> str:
        """Store ``{"before": bytes, "after": bytes}``, check both rasters are complete and on one
        grid, then start the job. A rejection removes the folder and every uploaded byte."""
        job_id = self.new_id()
        folder = self.root / job_id / "input"
        names = {str(folder / f"{k}{suffix}"): f"{k}_file (upload)" for k in uploads}
        try:
            sources = []
            for key, blob in uploads.items():
                if not blob:
                    raise DataError(f"{key}_file is empty; upload the raster's bytes")
                path = folder / f"{key}{suffix}"
                path.write_bytes(blob)
                sources.append(RasterSource(path, sensor))
                check_complete(sources[-1])
            before, after = sources
            return self.submit(job_id, before, after, tile_px, overlap_px, mmu_ha, on_done)
        except BaseException as e:
            replacement = self._discard(job_id, e, names)
            if replacement is None:
                raise
            raise replacement from None

    def submit(self, job_id: str, before: RasterSource, after: RasterSource,
               tile_px: int = 256, overlap_px: int = 32, mmu_ha: float = 0.5,
               on_done: Callable[[str, Any, Any], Any] | None = None) -> str:
        """Validate inputs now (errors reach the caller), then run in a background thread.

        A rejected job's folder is removed; its error names no server path and no job id.
        """
        try:
            return self._start(job_id, before, after, tile_px, overlap_px, mmu_ha, on_done)
        except BaseException as e:
            replacement = self._discard(job_id, e)
            if replacement is None:
                raise
            raise replacement from None

    def _start(self, job_id: str, before: RasterSource, after: RasterSource, tile_px: int,
               overlap_px: int, mmu_ha: float,
               on_done: Callable[[str, Any, Any], Any] | None) -> str:
        spec = JobSpec(before, after, self.root / job_id / "out", self.model_spec(), tile_px,
                       overlap_px, mmu_ha)
        from apps.deforestation.batch import check_pair

        check_pair(before, after)
        self._write(job_id, id=job_id, status="queued", progress={"done": 0, "total":
                    len(spec.tiles())}, model=spec.model.kind)
        thread = threading.Thread(target=self._run, args=(job_id, spec, on_done), daemon=True)
        self._threads[job_id] = thread
        thread.start()
        return job_id

    def _run(self, job_id: str, spec: JobSpec,
             on_done: Callable[[str, Any, Any], Any] | None) -> None:
        self._write(job_id, status="running")
        try:
            measurement = None
            if self.meter is not None:
                with self.meter.window(f"deforestation:job:{job_id}", unit="tile") as w:
                    result = self._execute(job_id, spec)
                    w.count += result.tiles_done
                measurement = w.measurement
            else:
                result = self._execute(job_id, spec)
            stats = result.to_dict()
            if on_done is not None:
                stats["account"] = on_done(job_id, result, measurement)
            self._write(job_id, status="done", stats=stats)
        except GreenstackError as e:
            self._write(job_id, status="failed", error=self.client_text(str(e), job_id))
        except Exception as e:  # the one outer boundary of a background job: record, never hide
            logger.exception("job %s crashed", job_id)
            self._write(job_id, status="failed",
                        error=self.client_text(f"{type(e).__name__}: {e}", job_id))

    def _execute(self, job_id: str, spec: JobSpec) -> Any:
        return run_job(spec, progress=lambda _s, d, t: self._write(
            job_id, progress={"done": d, "total": t}))

    def status(self, job_id: str) -> dict[str, Any]:
        """Status dict; a job left 'running' by a dead process reads as 'interrupted'."""
        d = self.job_dir(job_id)
        path = d / "status.json"
        if not path.exists():
            return {"id": job_id, "status": "queued"}
        st = json.loads(path.read_text())
        alive = job_id in self._threads and self._threads[job_id].is_alive()
        if st.get("status") in ("queued", "running") and not alive:
            st["status"] = "interrupted"
        return st

    def wait(self, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Block until the job thread ends (tests, CLI); returns the status."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout_s)
        return self.status(job_id)

    def lossmap(self, job_id: str) -> Path:
        """Path of the finished loss map; DataError while not finished."""
        path = self.job_dir(job_id) / "out" / "lossmap.tif"
        if not path.exists():
            raise DataError(f"job {job_id} has no loss map yet (status "
                            f"{self.status(job_id).get('status')}); poll GET /jobs/{job_id}")
        return path
