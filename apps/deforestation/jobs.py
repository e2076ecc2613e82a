"""Background loss-mapping jobs for the REST surface: one folder and one status file per job.

Status lives in ``<jobs>/<id>/status.json`` (written atomically) so it survives a server restart;
a job that was running when the server died shows ``interrupted`` and can be resubmitted with the
same inputs (finished tiles are reused by the batch layer).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apps.deforestation.batch import JobSpec, ModelSpec, run_job
from apps.deforestation.rasters import RasterSource
from core.errors import DataError, GreenstackError

logger = logging.getLogger(__name__)


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
        if not job_id.isalnum() or not (self.root / job_id).is_dir():
            raise DataError(f"no job {job_id!r}; submit one with POST /v1/deforestation/jobs")
        return self.root / job_id

    def _write(self, job_id: str, **status: Any) -> None:
        path = self.root / job_id / "status.json"
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(status, updated_unix_s=time.time())
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(current, indent=1, default=str))
        os.replace(tmp, path)

    def submit(self, job_id: str, before: RasterSource, after: RasterSource,
               tile_px: int = 256, overlap_px: int = 32, mmu_ha: float = 0.5,
               on_done: Callable[[str, Any, Any], Any] | None = None) -> str:
        """Validate inputs now (errors reach the caller), then run in a background thread."""
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
            self._write(job_id, status="failed", error=str(e))
        except Exception as e:  # the one outer boundary of a background job: record, never hide
            logger.exception("job %s crashed", job_id)
            self._write(job_id, status="failed", error=f"{type(e).__name__}: {e}")

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
