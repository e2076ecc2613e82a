"""Steps of ``greenstack run deforestation``: train teacher, distil student, gate, batch, account.

Teacher and student training are core.runs runs (reused when config, data and code match). The
gate compares the student with the teacher on held-out SIMULATED scenes (pixel F1 of loss and of
forest, per slice, model-only speed) plus two checks on REAL rasters: class agreement with the
teacher and end-to-end tiles/s through the same Dask batch path.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.batch import JobSpec, ModelSpec, run_job
from apps.deforestation.gate import (
    TiledPredictor,
    agreement,
    build_eval,
    forest_f1,
    loss_agreement,
    loss_f1,
)
from apps.deforestation.model import load, n_params, predict_probs, save
from apps.deforestation.rasters import RasterSource
from apps.deforestation.simulate import simulate_pairs
from apps.deforestation.train import (
    DistilSet,
    Progress,
    TrainConfig,
    distill_student,
    sim_scenes,
    stack_samples,
    teacher_targets,
    train_teacher,
)

APP = "deforestation"


@dataclass(frozen=True)
class PipelineConfig:
    """Sizes kept small so the default run fits a few minutes on 2 cores."""

    teacher_pairs: int = 100  # simulated 128-px pairs the teacher learns from
    student_pairs: int = 40  # of those, the pairs the student also sees (in 64-px crops)
    size_px: int = 128
    eval_pairs: int = 24
    eval_size_px: int = 128
    gate_tile_px: int = 64
    overlap_px: int = 32
    batch_tile_px: int = 128
    mmu_ha: float = 0.5
    continent: str = "americas"
    bench_repeats: int = 5
    e2e_repeats: int = 3
    min_agreement: float = 0.98
    min_e2e_speedup: float = 3.0
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def real_sources(data_dir: Path) -> dict[str, RasterSource]:
    """The shipped real rasters the gate scores (see data/satellite/PROVENANCE.md)."""
    sat = data_dir / "satellite"
    return {
        "oscd_aguasclaras_2015": RasterSource(sat / "oscd_aguasclaras" / "imgs_1", "sentinel2_l1c"),
        "oscd_aguasclaras_2017": RasterSource(sat / "oscd_aguasclaras" / "imgs_2", "sentinel2_l1c"),
        "landsat8_iguacu_2020": RasterSource(sat / "landsat8_iguacu" / "iguacu_clip.tif",
                                             "landsat8_bgr"),
        "sentinel2_berlin_2017": RasterSource(sat / "sentinel2_berlin", "sentinel2_l1c"),
    }


def distil_sources(data_dir: Path) -> dict[str, RasterSource]:
    """Real unlabelled rasters for distillation only: other places than :func:`real_sources`,
    so agreement is measured on pixels the student never trained on."""
    d = data_dir / "satellite" / "distil"
    out = {f"oscd_brasilia_{k}": RasterSource(d / "oscd_brasilia" / k, "sentinel2_l1c")
           for k in ("imgs_1", "imgs_2")}
    out |= {f.stem: RasterSource(f, "landsat8_bgr")
            for f in sorted((d / "landsat8_iguacu").glob("*.tif"))}
    out |= {f.name: RasterSource(f, "sentinel2_l1c")
            for f in sorted(d.glob("sentinel2_berlin_*"))}
    out["landsat7_bahamas"] = RasterSource(d / "landsat7_bahamas" / "rgb_clip.tif", "rgb8")
    return out


def teacher_step(cfg: PipelineConfig, out: Path, progress: Progress) -> dict[str, Any]:
    """RunStore fn: train the teacher on whole simulated scenes, save ``teacher.pt``."""
    x, y = stack_samples(simulate_pairs(cfg.seed, cfg.teacher_pairs, cfg.size_px))
    model, losses = train_teacher(x, y, cfg.train, progress)
    save(model, out / "teacher.pt")
    return {"loss_per_epoch": losses, "n_params": n_params(model), "samples": int(len(x)),
            "scene_px": cfg.size_px, "data": "simulated scenes (apps.deforestation.simulate)"}


def student_step(cfg: PipelineConfig, teacher_path: Path, real: dict[str, RasterSource],
                 out: Path, progress: Progress) -> dict[str, Any]:
    """RunStore fn: distil the student from the teacher's whole-scene outputs on simulated
    scenes and on the real unlabelled ``real`` rasters (never the ones the gate scores)."""
    teacher = load("teacher", len(MODEL_BANDS), teacher_path)
    t = cfg.train
    imgs, valid, _labels = sim_scenes(simulate_pairs(cfg.seed, cfg.student_pairs, cfg.size_px))
    # Hard term on the teacher's argmax here too (pure distillation): the gate asks the student
    # to match the teacher (docs/deforestation.md: true labels did no better).
    sim = teacher_targets(teacher, imgs, valid, None, t.crop_px)
    scenes = [s.read() for s in real.values()]
    unlabelled = teacher_targets(teacher, [s.data for s in scenes], [s.valid for s in scenes],
                                 None, t.crop_px, t.real_repeats)
    student, result = distill_student(teacher, DistilSet.concat([sim, unlabelled]), t, progress)
    save(student, out / "student.pt")
    return {"loss_per_epoch": result.report["loss_per_epoch"], "n_params": n_params(student),
            "teacher_params": n_params(teacher), "simulated_crops": len(sim),
            "real_unlabelled_crops": len(unlabelled) // max(t.real_repeats, 1),
            "real_rasters": sorted(real), "crop_px": t.crop_px,
            "size_bytes_before": result.size_bytes_before,
            "size_bytes_after": result.size_bytes_after,
            "data": "teacher outputs on whole scenes (hard term: teacher argmax): simulated + real "
                    "distillation clips data/satellite/distil"}


def gate_eval_set(cfg: PipelineConfig) -> Any:
    """The held-out SIMULATED eval set of the gate (deterministic from the config and code);
    its ``version`` is what serving checks the card's latest gate against."""
    from core.gates import EvalSet

    ev = build_eval(simulate_pairs(cfg.seed + 1000, cfg.eval_pairs, cfg.eval_size_px),
                    cfg.gate_tile_px)
    return EvalSet(name="deforestation-sim-heldout", inputs=ev.inputs, targets=ev.targets,
                   slices=ev.slices)


def gate_reports(cfg: PipelineConfig, teacher: Any, student: Any, meter: Any) -> tuple[Any, Any, str]:
    """(loss-F1 report with speed, forest-F1 report, eval version) on held-out simulated pairs."""
    from core.gates import BenchmarkConfig, Candidate, GateSpec, evaluate_gate

    eval_set = gate_eval_set(cfg)
    px = eval_set.inputs.pixels_per_scene
    preds = [TiledPredictor(lambda a, m=m: predict_probs(m, a), cfg.gate_tile_px,
                            cfg.overlap_px) for m in (teacher, student)]
    ref = Candidate("teacher-unet-resnet18", preds[0], size_bytes=_size(teacher),
                    has_cache=True, clear_cache=preds[0].clear)
    cand = Candidate("student-tinyunet", preds[1], size_bytes=_size(student),
                     has_cache=True, clear_cache=preds[1].clear)
    bench = BenchmarkConfig(batch_size=px, threads=1, warmup=1, repeats=cfg.bench_repeats,
                            max_units=px * 3, eval_batch_size=px * 4)
    loss_spec = GateSpec(metric="loss_f1_points", metric_fn=loss_f1, higher_is_better=True,
                         max_drop=1.0, max_slice_drop=2.0, min_speedup=5.0, max_size_ratio=0.1)
    forest_spec = GateSpec(metric="forest_f1_points", metric_fn=forest_f1,
                           higher_is_better=True, max_drop=1.0, max_slice_drop=2.0)
    loss_report = evaluate_gate(ref, cand, eval_set, loss_spec, bench=bench, meter=meter)
    forest_report = evaluate_gate(ref, cand, eval_set, forest_spec, bench=bench,
                                  measure_speed=False)
    return loss_report, forest_report, eval_set.version


def _size(model: Any) -> int:
    return int(sum(p.numel() * p.element_size() for p in model.state_dict().values()))


def real_agreement(teacher: Any, student: Any, real: dict[str, RasterSource]) -> dict[str, Any]:
    """Class agreement per real raster, and loss-code agreement on the OSCD pair (REAL data)."""
    per = {}
    probs = {}
    for name, src in real.items():
        scene = src.read()
        pt, ps = predict_probs(teacher, scene.data), predict_probs(student, scene.data)
        probs[name] = (pt, ps, scene.valid)
        per[name] = agreement(pt, ps, scene.valid)
    b, a = probs["oscd_aguasclaras_2015"], probs["oscd_aguasclaras_2017"]
    loss = loss_agreement(b[0], a[0], b[1], a[1], b[2] & a[2])
    pixels = {n: int(p[2].sum()) for n, p in probs.items()}
    overall = sum(per[n] * pixels[n] for n in per) / max(sum(pixels.values()), 1)
    return {"per_raster": per, "overall": overall, "loss_code_oscd_pair": loss,
            "pixels": pixels, "data": "real rasters (data/satellite)"}


def end_to_end_speed(cfg: PipelineConfig, weights: dict[str, Path],
                     real: dict[str, RasterSource]) -> dict[str, Any]:
    """Tiles/s of whole batch jobs (read → predict → blend → MMU → COG) on the REAL OSCD pair,
    teacher vs student, same Dask cluster (1 worker, 1 thread), median of repeats."""
    from distributed import Client, LocalCluster

    before, after = real["oscd_aguasclaras_2015"], real["oscd_aguasclaras_2017"]
    tiles_s: dict[str, list[float]] = {"teacher": [], "student": []}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for _ in range(cfg.e2e_repeats):
            for kind in ("teacher", "student"):
                out = Path(tempfile.mkdtemp(prefix=f"gs-e2e-{kind}-"))
                spec = JobSpec(before, after, out, ModelSpec(kind, weights[kind], len(MODEL_BANDS)),
                               tile_px=cfg.batch_tile_px, overlap_px=cfg.overlap_px,
                               mmu_ha=cfg.mmu_ha, vectors=False)  # same work for both models
                res = run_job(spec, client=client)
                tiles_s[kind].append(res.tiles_total / res.wall_s)
                shutil.rmtree(out, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in tiles_s.items()}
    return {"tiles_per_s": med, "speedup": med["student"] / med["teacher"],
            "tile_px": cfg.batch_tile_px, "tiles": len(JobSpec(
                before, after, Path("."), ModelSpec("student", weights["student"], 3),
                cfg.batch_tile_px, cfg.overlap_px).tiles()),
            "repeats": cfg.e2e_repeats, "threads": 1, "data": "real OSCD Águas Claras pair"}


def combined_report(loss_report: Any, forest_report: Any, agree: dict[str, Any],
                    e2e: dict[str, Any], cfg: PipelineConfig) -> Any:
    """One GateReport whose checks also hold forest F1, real agreement and end-to-end speed."""
    from core.gates import Check

    extra = [dataclasses.replace(c, name=f"forest {c.name}") for c in forest_report.checks]
    extra.append(Check("agreement_real", agree["overall"] >= cfg.min_agreement,
                       f"{agree['overall']:.2%} of real pixels same class as the teacher, "
                       f"required {cfg.min_agreement:.0%}"))
    extra.append(Check("speedup_end_to_end", e2e["speedup"] >= cfg.min_e2e_speedup,
                       f"{e2e['speedup']:.2f}× tiles/s on real tiles, required "
                       f"{cfg.min_e2e_speedup:.1f}×"))
    return dataclasses.replace(loss_report, checks=(*loss_report.checks, *extra))


def gate_rows(loss_report: Any, forest_report: Any) -> list[dict[str, Any]]:
    """Rows for the gate table: metric, slice, teacher, student, drop, allowed, ok."""
    rows = []
    for rep in (loss_report, forest_report):
        for m in (rep.overall, *rep.slices):
            rows.append({"metric": rep.metric, "slice": m.slice, "n_pixels": m.n,
                         "teacher": m.reference, "student": m.candidate, "drop": m.drop,
                         "allowed": m.max_drop, "passed": m.passed})
    return rows


def finite(x: float) -> float | None:
    """JSON-safe float."""
    return float(x) if np.isfinite(x) else None
