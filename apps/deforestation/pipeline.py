"""``greenstack run deforestation``: train/reuse the teacher → distil/reuse the student → gate on
REAL chips → batch job over the REAL OSCD pair → hectares and CO2 → ledger → model card. Step
bodies live in the domain modules (``steps.py``, ``teacher.py``, ``card.py``, ``serving.py``)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from typing import TYPE_CHECKING

from apps.deforestation import steps as pl
from apps.deforestation.accounting import account_loss_map
from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.batch import JobSpec
from apps.deforestation.card import DATA_SOURCES, book_monitoring, card_path, write_card
from apps.deforestation.model import load
from apps.deforestation.serving import run_metered, served_choice, served_spec
from apps.deforestation.steps import say
from apps.deforestation.summary import (
    APP,
    DeforestationRunSummary,
    footprint,
    run_info,
    summary_path,
)
from apps.deforestation.teacher import train_models
from apps.progress import Progress, tick

if TYPE_CHECKING:
    from apps.context import AppContext


def run(ctx: AppContext, config: pl.PipelineConfig,
        progress: Progress = None) -> DeforestationRunSummary:
    """Run every stage (finished teacher and student runs are reused unless ``ctx.force``)."""
    cfg = config
    models_dir, card = ctx.app_models_dir(APP), card_path(ctx.app_models_dir(APP))
    real = pl.real_sources(ctx.data_dir)
    intensity = ctx.carbon.intensity(at=None)
    t_res, s_res = train_models(ctx, cfg, models_dir, progress)
    weights = {k: models_dir / f"{k}.pt" for k in ("teacher", "student")}
    teacher, student = (load(k, len(MODEL_BANDS), weights[k]) for k in ("teacher", "student"))
    say("stage 3/5: gate on the REAL validation chips (accuracy, forest F1, slices, model-only "
        "speed at 1 thread)")
    tick(progress, "gate", 0, 4)
    acc_rep, f1_rep, tables, eval_version = pl.gate_reports(cfg, ctx.data_dir, teacher, student,
                                                            ctx.meter)
    for who in ("teacher", "student"):
        o = tables[who]["overall"]
        say(f"  {who}: mean per-chip accuracy {o['accuracy_points']:.2f}, forest F1 "
            f"{o['forest_f1_points']:.2f}, IoU {o['forest_iou_points']:.2f} (REAL val chips)")
    tick(progress, "gate", 1, 4)
    say("  agreement on REAL other-sensor rasters; simulated loss-F1 slices (reported)")
    agree = pl.real_agreement(teacher, student, real)
    sim = pl.sim_rows(cfg, teacher, student)
    tick(progress, "gate", 2, 4)
    say("  end-to-end tiles/s on the REAL OSCD pair (Dask, 1 thread)")
    e2e = pl.end_to_end_speed(cfg, weights, real)
    tick(progress, "gate", 4, 4)
    report = pl.combined_report(acc_rep, f1_rep, agree, e2e, cfg)
    say(f"  gate {report.verdict}" + ("" if report.passed else f": {'; '.join(report.reasons)}"))
    t_info, s_info = (run_info(r, intensity, ctx.pue) for r in (t_res, s_res))
    rows = pl.gate_rows(acc_rep, f1_rep)
    write_card(card, cfg.to_dict(), report, t_info, s_info, {
        "budget": {"name": cfg.budget, "teacher": dataclasses.asdict(cfg.teacher),
                   "student": dataclasses.asdict(cfg.train),
                   "teacher_wall_s": t_info["wall_s"], "student_wall_s": s_info["wall_s"]},
        "real_val": tables, "gate_rows": rows, "sim_rows": sim, "agreement_real": agree,
        "min_agreement_fixed_before_scoring": cfg.min_agreement, "speed_end_to_end": e2e,
        "data_sources": DATA_SOURCES})
    say("stage 4/5: batch job over the REAL OSCD pair with the served model")
    served = served_spec(models_dir, served_choice(card, eval_version))
    out_dir = ctx.app_cache_dir(APP) / "demo_job"
    shutil.rmtree(out_dir, ignore_errors=True)
    job = run_metered(ctx, JobSpec(real["oscd_aguasclaras_2015"], real["oscd_aguasclaras_2017"],
                                   out_dir, served, cfg.batch_tile_px, cfg.overlap_px, cfg.mmu_ha,
                                   before_date=None, after_date=None, continent=cfg.continent),
                      progress=progress)
    say("stage 5/5: hectares and CO2 (app output and official maps)")
    detected = account_loss_map(job.lossmap, [1], None, cfg.continent) if job.lossmap else None
    if detected is not None:
        book_monitoring(ctx, t_res.key[:16] + "-demo", detected, "OSCD Águas Claras 2015→2017")
    official = {
        "guadeloupe_fcc23_with_agb": account_loss_map(
            ctx.data_dir / "satellite/guadeloupe/fcc23.tif", [0],
            ctx.data_dir / "satellite/guadeloupe/AGB.tif", cfg.continent).to_dict(),
        "prodes_rondonia_2012_2021": account_loss_map(
            next((ctx.data_dir / "satellite/prodes_rondonia").glob("PRODES_*.tif")),
            [11, 16, 17, 27, 29, 33], None, cfg.continent).to_dict(),
    }
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
        official_maps=official, footprint=footprint(t_info, s_info, ctx, intensity),
        card_path=str(card), real_val=tables, sim_rows=tuple(sim), budget=cfg.budget,
        notes=("gate rows: REAL amazon_forest validation chips; agreement: REAL other-sensor "
               "rasters; end-to-end: REAL OSCD pair; sim_rows: SIMULATED (reported, not gating)",
               "detected loss: OSCD Águas Claras (urban/cerrado change, not labelled forest)"))
    summary_path(ctx).write_text(json.dumps(summary.to_dict(), indent=1, default=str))
    say(f"done: serving the {served.kind} ({summary.served_reason})")
    return summary
