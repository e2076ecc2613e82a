"""The batch job's ledger record states its scope: tile tasks that ran in other (Dask worker)
processes are not in this process's meter, and the record says so with their CPU seconds."""

from __future__ import annotations

from pathlib import Path

from apps.deforestation.batch import JobResult
from apps.deforestation.serving import record_batch


def _result(remote_tasks: int, remote_cpu_s: float) -> JobResult:
    return JobResult(out_dir=Path("job"), tiles_total=4, tiles_done=4, tiles_skipped=0, failed=(),
                     wall_s=1.0, remote_tasks=remote_tasks, remote_cpu_s=remote_cpu_s)


def test_record_names_unmetered_worker_processes(ctx) -> None:
    with ctx.meter.window("deforestation:batch", unit="tile") as w:
        w.count += 4
    record_batch(ctx, w.measurement, "in-process", _result(0, 0.0))
    record_batch(ctx, w.measurement, "on-a-cluster", _result(4, 12.34))
    local, = ctx.ledger.footprints(app="deforestation", run_id="in-process")
    remote, = ctx.ledger.footprints(app="deforestation", run_id="on-a-cluster")
    assert "not metered" not in local.notes
    assert "4 tile tasks ran in other (Dask worker) processes and are not metered" in remote.notes
    assert "12.3 thread CPU-s" in remote.notes
