"""The orchestration of ``greenstack run deforestation`` (called by DeforestationService)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Protocol

from apps.deforestation import pipeline as pl
from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.model import load
from apps.deforestation.summary import DeforestationRunSummary
from apps.progress import Progress
from core.units import co2e_kg


class DeforestationService(Protocol):
    """What the orchestration needs of the service that calls it (no import back up to it)."""

    ctx: Any
    config: pl.PipelineConfig

    @property
    def models_dir(self) -> Path: ...

    @property
    def card_path(self) -> Path: ...


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


def say(msg: str) -> None:
    """A stage line on stderr, flushed (visible when the output is piped to a log)."""
    import sys
    import time

    print(f"[deforestation {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _store(ctx: Any) -> Any:
    return ctx.run_store()


def teacher_key(svc: DeforestationService) -> str:
    """Run key of the teacher: its budget, the REAL training chips and the teacher's code.

    Core is not hashed here (the teacher's training calls none of it but its error types)."""
    from core.runs import fingerprint_paths, run_key

    cfg = svc.config
    data_fp = fingerprint_paths([svc.ctx.data_dir / "satellite" / "amazon_forest"])
    code = _files_hash(Path(__file__).parent, _TEACHER_FILES) + _objects_hash(_TEACHER_OBJECTS)
    config: dict[str, Any] = {"step": "deforestation-teacher-real",
                              "teacher": dataclasses.asdict(cfg.teacher)}
    if cfg.chip_limit is not None:
        config["chip_limit"] = cfg.chip_limit
    return run_key(config, data_fp, code)


def train_teacher(svc: DeforestationService, progress: Progress = None) -> Any:
    """The teacher run (reused when budget, chips and code match)."""
    ctx, cfg = svc.ctx, svc.config
    key = teacher_key(svc)
    say(f"stage 1/5: teacher (U-Net/ResNet-18) on REAL chips + simulated scenes, budget "
        f"{cfg.budget!r}: {cfg.teacher.steps} steps of {cfg.teacher.batch_size} crops "
        f"({key[:12]}; reused if finished)")
    return _store(ctx).get_or_run(
        key, lambda out: pl.teacher_step(cfg, ctx.data_dir, out, progress, say),
        app=pl.APP, phase="train", force=ctx.force)


def _train(svc: DeforestationService, progress: Progress) -> tuple[Any, Any]:
    from core.runs import code_version, fingerprint_paths, run_key

    ctx, cfg = svc.ctx, svc.config
    teacher = train_teacher(svc, progress)
    here = Path(__file__).parent
    # Code version: core plus the modules the student step runs, so a code change redoes it.
    s_code = code_version(*(here / name for name in (
        "bands.py", "model.py", "simulate.py", "spectra.py", "train.py", "pipeline.py",
        "rasters.py", "real_chips.py")))
    data_fp = fingerprint_paths([ctx.data_dir / "satellite"])
    s_key = run_key({"step": "deforestation-student-real", "teacher": teacher.key,
                     "student_pairs": cfg.student_pairs, "size_px": cfg.size_px,
                     "seed": cfg.seed, "train": dataclasses.asdict(cfg.train)}, data_fp, s_code)
    say(f"stage 2/5: distil the student from the teacher ({cfg.train.student_epochs} epochs; "
        f"{s_key[:12]}; reused if finished)")
    student = _store(ctx).get_or_run(
        s_key, lambda out: pl.student_step(cfg, ctx.data_dir, teacher.artifacts_dir / "teacher.pt",
                                           pl.distil_sources(ctx.data_dir), out, progress, say),
        app=pl.APP, phase="compress", force=ctx.force)
    for name, res in (("teacher", teacher), ("student", student)):
        shutil.copyfile(res.artifacts_dir / f"{name}.pt", svc.models_dir / f"{name}.pt")
    return teacher, student


def _run_info(res: Any, intensity: Any, pue: float) -> dict[str, Any]:
    m = res.measurement
    return {"key": res.key, "reused": res.reused, "outputs": res.outputs,
            "energy_kwh": m.energy_kwh, "co2e_kg": co2e_kg(m.energy_j, intensity.g_per_kwh, pue),
            "method": m.method, "wall_s": m.wall_s}


def _card(svc: DeforestationService, report: Any, t_info: dict[str, Any],
          s_info: dict[str, Any], extra: dict[str, Any]) -> Path:
    from core.gates import ModelCard, ModelRef

    card = ModelCard(
        app=pl.APP, name="forest-loss", reference=ModelRef(name="teacher-unet-resnet18",
                                                           path="teacher.pt"),
        candidate=ModelRef(name="student-tinyunet", path="student.pt"),
        metrics=extra, footprint=(t_info, s_info), protocol={"pipeline": svc.config.to_dict()},
        data_fingerprint=t_info["key"])
    return card.with_gate(report).save(svc.card_path)


# Which data each part of the card comes from (issue 14: say which rows are real/simulated).
DATA_SOURCES = {
    "real_val / gate accuracy and forest_f1 rows": "REAL: 8 amazon_forest validation chips "
    "(Sentinel-2 true colour, hand-labelled forest masks), never trained on",
    "agreement_real (out-of-distribution row)": "REAL unlabelled rasters of other sensors: OSCD "
    "Sentinel-2 L1C ×2, Landsat-8 Iguaçu, Sentinel-2 L1C Berlin JP2 (no labels: agreement with "
    "the teacher)",
    "speed_end_to_end": "REAL OSCD Águas Claras pair through the Dask batch path",
    "speedup (model-only)": "REAL validation chips, whole-chip prediction, 1 thread",
    "sim_rows (loss F1, forest F1 per slice; reported, not gating)": "SIMULATED held-out pairs "
    "(bitemporal change, clouds, Landsat-8 and Sentinel-2 reflectance: what the real labels lack)",
    "teacher training": "REAL amazon_forest training chips + SIMULATED scenes (clouds, sensors)",
}


def run_pipeline(svc: DeforestationService, progress: Progress = None,
                 **options: Any) -> DeforestationRunSummary:
    """Train/reuse → distil/reuse → gate → batch over the real OSCD pair → account → ledger.

    ``budget="full"|"demo"`` (option) selects a training budget (``pipeline.BUDGETS``) in place
    of the service's config."""
    if options.get("budget"):
        svc.config = pl.PipelineConfig.for_budget(options["budget"])
    ctx, cfg = svc.ctx, svc.config
    real = pl.real_sources(ctx.data_dir)
    intensity = ctx.carbon.intensity(at=None)
    t_res, s_res = _train(svc, progress)
    weights = {k: svc.models_dir / f"{k}.pt" for k in ("teacher", "student")}
    teacher, student = (load(k, len(MODEL_BANDS), weights[k]) for k in ("teacher", "student"))
    say("stage 3/5: gate on the REAL validation chips (accuracy, forest F1, slices, model-only "
        "speed at 1 thread)")
    if progress:
        progress("gate", 0, 4)
    acc_rep, f1_rep, tables, _version = pl.gate_reports(cfg, ctx.data_dir, teacher, student,
                                                        ctx.meter)
    for who in ("teacher", "student"):
        o = tables[who]["overall"]
        say(f"  {who}: mean per-chip accuracy {o['accuracy_points']:.2f}, forest F1 "
            f"{o['forest_f1_points']:.2f}, IoU {o['forest_iou_points']:.2f} (REAL val chips)")
    if progress:
        progress("gate", 1, 4)
    say("  agreement on REAL other-sensor rasters; simulated loss-F1 slices (reported)")
    agree = pl.real_agreement(teacher, student, real)
    sim = pl.sim_rows(cfg, teacher, student)
    if progress:
        progress("gate", 2, 4)
    say("  end-to-end tiles/s on the REAL OSCD pair (Dask, 1 thread)")
    e2e = pl.end_to_end_speed(cfg, weights, real)
    if progress:
        progress("gate", 4, 4)
    report = pl.combined_report(acc_rep, f1_rep, agree, e2e, cfg)
    say(f"  gate {report.verdict}" + ("" if report.passed else f": {'; '.join(report.reasons)}"))
    t_info, s_info = (_run_info(r, intensity, ctx.pue) for r in (t_res, s_res))
    rows = pl.gate_rows(acc_rep, f1_rep)
    _card(svc, report, t_info, s_info, {
        "budget": {"name": cfg.budget, "teacher": dataclasses.asdict(cfg.teacher),
                   "student": dataclasses.asdict(cfg.train),
                   "teacher_wall_s": t_info["wall_s"], "student_wall_s": s_info["wall_s"]},
        "real_val": tables, "gate_rows": rows, "sim_rows": sim, "agreement_real": agree,
        "min_agreement_fixed_before_scoring": cfg.min_agreement, "speed_end_to_end": e2e,
        "data_sources": DATA_SOURCES})
    say("stage 4/5: batch job over the REAL OSCD pair with the served model")
    out_dir = ctx.app_cache_dir(pl.APP) / "demo_job"
    shutil.rmtree(out_dir, ignore_errors=True)
    job = svc.run_tiles(real["oscd_aguasclaras_2015"], real["oscd_aguasclaras_2017"], out_dir,
                        progress=progress, tile_px=cfg.batch_tile_px, overlap_px=cfg.overlap_px,
                        mmu_ha=cfg.mmu_ha)
    say("stage 5/5: hectares and CO2 (app output and official maps)")
    detected = svc.account(job.lossmap, [1]) if job.lossmap else None
    if detected is not None:
        svc.record_monitoring(t_res.key[:16] + "-demo", detected, "OSCD Águas Claras 2015→2017")
    official = {
        "guadeloupe_fcc23_with_agb": svc.account(
            ctx.data_dir / "satellite/guadeloupe/fcc23.tif", [0],
            ctx.data_dir / "satellite/guadeloupe/AGB.tif").to_dict(),
        "prodes_rondonia_2012_2021": svc.account(
            next((ctx.data_dir / "satellite/prodes_rondonia").glob("PRODES_*.tif")),
            [11, 16, 17, 27, 29, 33]).to_dict(),
    }
    served = svc._served_spec()
    speed = report.speed
    summary = DeforestationRunSummary(
        teacher_run=t_info, student_run=s_info, gate_verdict=report.verdict,
        gate_reasons=report.reasons, gate_rows=tuple(rows),
        gate_checks=tuple({"name": c.name, "passed": c.passed, "detail": c.detail}
                          for c in report.checks),
        speed_model_only=speed.to_dict() if speed else {}, speed_end_to_end=e2e,
        agreement_real=agree, served_model=served.kind,
        served_reason="gate PASSED" if report.passed else "gate FAILED: serving the teacher",
        job=job.to_dict(), detected=detected.to_dict() if detected else {},
        official_maps=official, footprint=_footprint(t_info, s_info, ctx, intensity),
        card_path=str(svc.card_path), real_val=tables, sim_rows=tuple(sim), budget=cfg.budget,
        notes=("gate rows: REAL amazon_forest validation chips; agreement: REAL other-sensor "
               "rasters; end-to-end: REAL OSCD pair; sim_rows: SIMULATED (reported, not gating)",
               "detected loss: OSCD Águas Claras (urban/cerrado change, not labelled forest)"))
    svc.summary_path().write_text(json.dumps(summary.to_dict(), indent=1, default=str))
    say(f"done: serving the {served.kind} ({summary.served_reason})")
    return summary


def _footprint(t_info: dict[str, Any], s_info: dict[str, Any], ctx: Any,
               intensity: Any) -> dict[str, Any]:
    batch = [f for f in ctx.ledger.footprints(app=pl.APP, phase="batch")][-1:]
    b = batch[0] if batch else None
    return {
        "train_kwh": t_info["energy_kwh"], "train_co2e_kg": t_info["co2e_kg"],
        "distil_kwh": s_info["energy_kwh"], "distil_co2e_kg": s_info["co2e_kg"],
        "batch_kwh": getattr(b, "energy_kwh", None), "batch_co2e_kg": getattr(b, "co2e_kg", None),
        "batch_j_per_tile": (b.energy_j / b.count) if b is not None and b.count else None,
        "batch_method": getattr(b, "method", None),
        "reused": {"teacher": t_info["reused"], "student": s_info["reused"]},
        "intensity": {"zone": intensity.zone, "g_per_kwh": intensity.g_per_kwh,
                      "source": intensity.source, "year": intensity.year},
        "method": t_info["method"],
    }
