"""The served model (the gate's choice from the card) and metered batch jobs with their footprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.batch import JobResult, JobSpec, ModelSpec, run_job
from apps.deforestation.summary import APP
from core.errors import ModelError


def served_choice(card_path: Path, eval_version: str) -> Any:
    """The gate's choice in the card, trusted only for the eval set of ``eval_version``."""
    from core.gates import load_served_choice

    return load_served_choice(card_path, eval_version)


def served_spec(models_dir: Path, choice: Any) -> ModelSpec:
    """The weights of the served model (student when the gate passed, else the teacher)."""
    kind = "student" if choice.served == "candidate" else "teacher"
    weights = Path(models_dir) / f"{kind}.pt"
    if not weights.exists():
        raise ModelError(f"{weights} missing; run `greenstack run deforestation` first")
    return ModelSpec(kind, weights, len(MODEL_BANDS))


def record_batch(ctx: Any, m: Any, run_id: str, result: JobResult) -> None:
    """The batch job's footprint in the ledger (phase ``batch``)."""
    notes = (f"{result.tiles_done} tiles computed, {result.tiles_skipped} resumed, "
             f"{len(result.failed)} failed; J/tile = {m.j_per_unit}")
    if result.remote_tasks:
        # The meter sees this process only; those tiles ran in worker processes (maybe on other
        # machines, whose power this process cannot know), so their energy is not in this record.
        notes += (f"; scope: this process only, {result.remote_tasks} tile tasks ran in other "
                  f"(Dask worker) processes and are not metered: they used "
                  f"{result.remote_cpu_s:.1f} thread CPU-s, measured on the workers with "
                  f"time.thread_time")
    ctx.ledger.record_footprint(app=APP, run_id=run_id, phase="batch", measurement=m,
                                intensity=ctx.carbon.intensity(at=None), pue=ctx.pue, notes=notes)


def run_metered(ctx: Any, spec: JobSpec, client: Any = None, progress: Any = None,
                n_workers: int = 1) -> JobResult:
    """Run a batch job under the context's meter; its footprint goes to the ledger."""
    with ctx.meter.window("deforestation:batch", unit="tile") as w:
        result = run_job(spec, client=client, progress=progress, n_workers=n_workers)
        w.count += result.tiles_done
    record_batch(ctx, w.measurement, Path(spec.out_dir).name, result)
    return result
