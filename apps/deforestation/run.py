"""The orchestration of ``greenstack run deforestation`` (called by DeforestationService)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.deforestation import pipeline as pl
from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.model import load
from apps.deforestation.summary import DeforestationRunSummary
from apps.deforestation.train import Progress
from core.units import co2e_kg

if TYPE_CHECKING:
    from apps.deforestation.service import DeforestationService


_TEACHER_FILES = ("bands.py", "model.py", "simulate.py", "spectra.py", "train.py")


def _train(svc: DeforestationService, progress: Progress) -> tuple[Any, Any]:
    from core.runs import code_version, fingerprint_paths, run_key

    ctx, cfg = svc.ctx, svc.config
    store = ctx.run_store()
    data_fp = fingerprint_paths([ctx.data_dir / "satellite"])
    here = Path(__file__).parent
    # Code version: core plus the modules each step runs, so a code change retrains that step
    # (and only steps it affects) instead of reusing results of older code.
    teacher_code = code_version(*(here / name for name in _TEACHER_FILES))
    t_cfg = {"teacher_pairs": cfg.teacher_pairs, "size_px": cfg.size_px, "seed": cfg.seed,
             "teacher_epochs": cfg.train.teacher_epochs, "batch_size": cfg.train.batch_size,
             "lr": cfg.train.lr}
    t_key = run_key({"step": "deforestation-teacher", **t_cfg}, data_fp, teacher_code)
    teacher = store.get_or_run(t_key, lambda out: pl.teacher_step(cfg, out, progress),
                               app=pl.APP, phase="train", force=ctx.force)
    s_code = code_version(*(here / name for name in (*_TEACHER_FILES, "pipeline.py", "rasters.py")))
    s_key = run_key({"step": "deforestation-student", "teacher": t_key, **t_cfg,
                     "student_pairs": cfg.student_pairs, "train": dataclasses.asdict(cfg.train)},
                    data_fp, s_code)
    student = store.get_or_run(
        s_key, lambda out: pl.student_step(cfg, teacher.artifacts_dir / "teacher.pt",
                                           pl.distil_sources(ctx.data_dir), out, progress),
        app=pl.APP, phase="compress",
        force=ctx.force)
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


def run_pipeline(svc: DeforestationService, progress: Progress = None,
                 **options: Any) -> DeforestationRunSummary:
    """Train/reuse → distil/reuse → gate → batch over the real OSCD pair → account → ledger."""
    ctx, cfg = svc.ctx, svc.config
    real = pl.real_sources(ctx.data_dir)
    intensity = ctx.carbon.intensity(at=None)
    t_res, s_res = _train(svc, progress)
    weights = {k: svc.models_dir / f"{k}.pt" for k in ("teacher", "student")}
    teacher, student = (load(k, len(MODEL_BANDS), weights[k]) for k in ("teacher", "student"))
    if progress:
        progress("gate", 0, 3)
    loss_rep, forest_rep, _version = pl.gate_reports(cfg, teacher, student, ctx.meter)
    agree = pl.real_agreement(teacher, student, real)
    if progress:
        progress("gate", 1, 3)
    e2e = pl.end_to_end_speed(cfg, weights, real)
    if progress:
        progress("gate", 3, 3)
    report = pl.combined_report(loss_rep, forest_rep, agree, e2e, cfg)
    t_info, s_info = (_run_info(r, intensity, ctx.pue) for r in (t_res, s_res))
    rows = pl.gate_rows(loss_rep, forest_rep)
    _card(svc, report, t_info, s_info, {"gate_rows": rows, "agreement_real": agree,
                                        "speed_end_to_end": e2e})
    out_dir = ctx.app_cache_dir(pl.APP) / "demo_job"
    shutil.rmtree(out_dir, ignore_errors=True)
    job = svc.run_tiles(real["oscd_aguasclaras_2015"], real["oscd_aguasclaras_2017"], out_dir,
                        progress=progress, tile_px=cfg.batch_tile_px, overlap_px=cfg.overlap_px,
                        mmu_ha=cfg.mmu_ha)
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
        card_path=str(svc.card_path),
        notes=("gate F1 rows: SIMULATED held-out scenes; agreement/end-to-end: REAL rasters",
               "detected loss: OSCD Águas Claras (urban/cerrado change, not labelled forest)"))
    svc.summary_path().write_text(json.dumps(summary.to_dict(), indent=1, default=str))
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
