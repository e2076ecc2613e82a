"""The teacher run and the student distilled from it: core.runs keys, reuse, installed weights."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from apps.deforestation import steps as pl
from apps.deforestation.steps import say
from apps.deforestation.summary import APP
from apps.progress import Progress

# Modules whose whole source is the teacher's code; from model.py and train.py only the
# teacher's functions count, so a change to the student or to distillation keeps the teacher.
_TEACHER_FILES = ("bands.py", "rasters.py", "real_chips.py", "simulate.py", "spectra.py")
_TEACHER_OBJECTS = ("model._norm_buffers", "model.build_teacher", "model.set_normalisation",
                    "train._augment", "train.sim_scenes", "train.RealTeacherBudget", "train._jitter",
                    "train.random_crops", "train.MixedCrops", "train.recompute_bn",
                    "train.train_teacher_real")


def _files_hash(folder: Path, names: tuple[str, ...]) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def _objects_hash(names: tuple[str, ...]) -> str:
    import hashlib
    import importlib
    import inspect

    h = hashlib.sha256()
    for name in names:
        module, attr = name.split(".")
        obj = getattr(importlib.import_module(f"apps.deforestation.{module}"), attr)
        h.update(name.encode())
        h.update(inspect.getsource(obj).encode())
    return h.hexdigest()


def teacher_key(ctx: Any, cfg: pl.PipelineConfig) -> str:
    """Run key of the teacher: its budget, the REAL training chips and the teacher's code.

    Core is not hashed here (the teacher's training calls none of it but its error types)."""
    from core.runs import fingerprint_paths, run_key

    data_fp = fingerprint_paths([ctx.data_dir / "satellite" / "amazon_forest"])
    code = _files_hash(Path(__file__).parent, _TEACHER_FILES) + _objects_hash(_TEACHER_OBJECTS)
    config: dict[str, Any] = {"step": "deforestation-teacher-real",
                              "teacher": dataclasses.asdict(cfg.teacher)}
    if cfg.chip_limit is not None:
        config["chip_limit"] = cfg.chip_limit
    return run_key(config, data_fp, code)


def train_teacher(ctx: Any, cfg: pl.PipelineConfig, progress: Progress = None) -> Any:
    """The teacher run (reused when budget, chips and code match)."""
    key = teacher_key(ctx, cfg)
    say(f"stage 1/5: teacher (U-Net/ResNet-18) on REAL chips + simulated scenes, budget "
        f"{cfg.budget!r}: {cfg.teacher.steps} steps of {cfg.teacher.batch_size} crops "
        f"({key[:12]}; reused if finished)")
    return ctx.run_store().get_or_run(
        key, lambda out: pl.teacher_step(cfg, ctx.data_dir, out, progress, say),
        app=APP, phase="train", force=ctx.force)


def train_models(ctx: Any, cfg: pl.PipelineConfig, models_dir: Path,
                 progress: Progress) -> tuple[Any, Any]:
    """Teacher run, then the student distilled from it; both weights copied to ``models_dir``."""
    from core.runs import code_version, fingerprint_paths, run_key

    teacher = train_teacher(ctx, cfg, progress)
    here = Path(__file__).parent
    # Code version: core plus the modules the student step runs, so a code change redoes it.
    s_code = code_version(*(here / name for name in (
        "bands.py", "model.py", "simulate.py", "spectra.py", "train.py", "steps.py",
        "rasters.py", "real_chips.py")))
    data_fp = fingerprint_paths([ctx.data_dir / "satellite"])
    s_key = run_key({"step": "deforestation-student-real", "teacher": teacher.key,
                     "student_pairs": cfg.student_pairs, "size_px": cfg.size_px,
                     "seed": cfg.seed, "train": dataclasses.asdict(cfg.train)}, data_fp, s_code)
    say(f"stage 2/5: distil the student from the teacher ({cfg.train.student_epochs} epochs; "
        f"{s_key[:12]}; reused if finished)")
    student = ctx.run_store().get_or_run(
        s_key, lambda out: pl.student_step(cfg, ctx.data_dir, teacher.artifacts_dir / "teacher.pt",
                                           pl.distil_sources(ctx.data_dir), out, progress, say),
        app=APP, phase="compress", force=ctx.force)
    for name, res in (("teacher", teacher), ("student", student)):
        shutil.copyfile(res.artifacts_dir / f"{name}.pt", models_dir / f"{name}.pt")
    return teacher, student
