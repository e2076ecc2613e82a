"""A finished deforestation job on real imagery for the map tests, made by the real job code.

A one-epoch teacher (a real, tiny training run) maps the real Landsat-8 Iguaçu clip; the 'before'
date is the same clip with every pixel that teacher calls non-forest painted in the mean colour
of its forest pixels, so the job finds loss patches where the real clip has open land. The job
runs through ``JobManager`` without a meter or ledger, so the stack's seeded ledger is untouched.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IGUACU = PROJECT_ROOT / "data" / "satellite" / "landsat8_iguacu" / "iguacu_clip.tif"


def _tiny_teacher(path: Path) -> Path:
    import torch

    from apps.deforestation.model import save
    from apps.deforestation.simulate import simulate_pairs
    from apps.deforestation.train import TrainConfig, stack_samples, train_teacher

    torch.set_num_threads(1)
    x, y = stack_samples(simulate_pairs(0, 8, 64))
    teacher, _ = train_teacher(x, y, TrainConfig(teacher_epochs=1, batch_size=8))
    return save(teacher, path)


def _forested_before(tmp: Path, weights: Path) -> Path:
    import rasterio

    from apps.deforestation.model import load, predict_probs
    from apps.deforestation.rasters import RasterSource

    model = load("teacher", 3, weights)
    cls = predict_probs(model, RasterSource(IGUACU, "landsat8_bgr").read().data).argmax(0)
    with rasterio.open(IGUACU) as ds:
        arr, profile = ds.read(), ds.profile
    arr[:, cls == 0] = arr[:, cls == 1].mean(1).round().astype(arr.dtype)[:, None]
    with rasterio.open(tmp / "before.tif", "w", **profile) as dst:
        dst.write(arr)
    return tmp / "before.tif"


def seed_finished_job(cache_dir: Path, tmp: Path) -> Path:
    """Run one job into ``<cache_dir>/deforestation/jobs``; returns its output folder."""
    from apps.deforestation.batch import ModelSpec
    from apps.deforestation.jobs import JobManager
    from apps.deforestation.rasters import RasterSource

    weights = _tiny_teacher(tmp / "teacher.pt")
    before = _forested_before(tmp, weights)
    jobs = JobManager(Path(cache_dir) / "deforestation" / "jobs",
                      lambda: ModelSpec("teacher", weights, 3))
    job_id = jobs.new_id()
    jobs.submit(job_id, RasterSource(before, "landsat8_bgr"),
                RasterSource(IGUACU, "landsat8_bgr"), tile_px=128, overlap_px=32, mmu_ha=0.5)
    status = jobs.wait(job_id, timeout_s=300)
    if status["status"] != "done":
        raise RuntimeError(f"seed job did not finish: {status}")
    return jobs.job_dir(job_id) / "out"
