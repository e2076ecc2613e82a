"""Steps of ``greenstack run deforestation``: train teacher, distil student, gate, batch, account.

Teacher and student training are core.runs runs (reused when config, data and code match). The
teacher learns from the REAL labelled training chips (data/satellite/amazon_forest) mixed with
SIMULATED scenes (clouds, Sentinel-2/Landsat-8 reflectance). The gate compares the student with
the teacher on the REAL validation chips (mean per-chip accuracy and forest F1, overall and per
slice, model-only speed), on REAL unlabelled rasters of other sensors (class agreement, the
out-of-distribution row) and on the REAL OSCD pair (end-to-end tiles/s). Loss F1 on held-out
SIMULATED pairs is reported next to it and does not gate.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apps.deforestation import real_metrics
from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.batch import JobSpec, ModelSpec, run_job
from apps.deforestation.gate import (
    ChipPredictor,
    ChipUnits,
    TiledPredictor,
    agreement,
    build_eval,
    forest_f1,
    loss_agreement,
    loss_f1,
)
from apps.deforestation.model import load, n_params, predict_probs, save
from apps.deforestation.rasters import RasterSource
from apps.deforestation.real_chips import AmazonForestChips
from apps.deforestation.simulate import simulate_pairs
from apps.deforestation.train import (
    DistilSet,
    MixedCrops,
    Progress,
    RealTeacherBudget,
    TrainConfig,
    distill_student,
    sim_scenes,
    teacher_targets,
    train_teacher_real,
)

# Training budgets (docs/deforestation.md states the wall time of each on this machine).
BUDGETS: dict[str, tuple[RealTeacherBudget, TrainConfig]] = {
    "full": (RealTeacherBudget(steps=2000, crop_px=192, ema_decay=0.995),
             TrainConfig(student_epochs=100, crop_px=128, teacher_tta=True)),
    "demo": (RealTeacherBudget(steps=60, crop_px=160, ema_decay=0.95, bn_batches=16),
             TrainConfig(student_epochs=10, crop_px=128, teacher_tta=True)),
}


@dataclass(frozen=True)
class PipelineConfig:
    """One training budget (``BUDGETS``) and the gate's data sizes."""

    budget: str = "full"
    teacher: RealTeacherBudget = field(default_factory=lambda: BUDGETS["full"][0])
    student_pairs: int = 20  # simulated pairs the student also sees (in 64-px crops)
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
    # Out-of-distribution row (unlabelled Landsat-8 / Sentinel-2 L1C / Berlin JP2 rasters),
    # fixed before the first real-chip student was scored: the student must give the teacher's
    # class on >= 95 % of those pixels, i.e. differ from its teacher there by no more than the best
    # published model on this dataset (Attention U-Net, 95.3 %) differs from the truth.
    min_agreement: float = 0.95
    min_e2e_speedup: float = 3.0
    seed: int = 0
    train: TrainConfig = field(default_factory=lambda: BUDGETS["full"][1])
    chip_limit: int | None = None  # tests only: the first N train and N validation chips

    def chips(self, data_dir: Path, split: str) -> list[Any]:
        """The REAL chips of ``split`` (all of them unless ``chip_limit``), loaded."""
        ds = AmazonForestChips(data_dir, split)
        n = len(ds) if self.chip_limit is None else min(self.chip_limit, len(ds))
        return [ds[i] for i in range(n)]

    @classmethod
    def for_budget(cls, name: str) -> PipelineConfig:
        """The config of a named budget (``full`` or ``demo``)."""
        from core.errors import ConfigError

        if name not in BUDGETS:
            raise ConfigError(f"unknown training budget {name!r}; use one of {', '.join(BUDGETS)}")
        teacher, student = BUDGETS[name]
        return cls(budget=name, teacher=teacher, train=student)

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


Log = Callable[[str], None] | None


def teacher_step(cfg: PipelineConfig, data_dir: Path, out: Path, progress: Progress,
                 log: Log = None) -> dict[str, Any]:
    """RunStore fn: train the teacher on REAL training chips mixed with simulated scenes."""
    chips = cfg.chips(data_dir, "train")
    data = MixedCrops([c.image for c in chips], [c.mask for c in chips], cfg.teacher)
    model, history = train_teacher_real(data, progress, log)
    save(model, out / "teacher.pt")
    b = cfg.teacher
    return {"history": history, "n_params": n_params(model), "budget": cfg.budget,
            "budget_config": dataclasses.asdict(b), "train_chips": [c.name for c in chips],
            "data": f"per step {b.batch_size - b.sim_per_batch} REAL crops of the amazon_forest "
                    f"train chips + {b.sim_per_batch} SIMULATED scene crops "
                    f"(apps.deforestation.simulate), {b.crop_px} px",
            "final_model": "EMA of weights at the last step, BatchNorm statistics recomputed "
                           "(rule fixed in advance; no validation score picks it)"}


def student_step(cfg: PipelineConfig, data_dir: Path, teacher_path: Path,
                 real: dict[str, RasterSource], out: Path, progress: Progress,
                 log: Log = None) -> dict[str, Any]:
    """RunStore fn: distil the student from the teacher's whole-scene outputs on the REAL
    training chips (hard term: their TRUE labels), simulated scenes and the real unlabelled
    ``real`` rasters (hard term: the teacher's argmax; never the rasters the gate scores)."""
    teacher = load("teacher", len(MODEL_BANDS), teacher_path)
    t = cfg.train
    chips = cfg.chips(data_dir, "train")
    labelled = teacher_targets(teacher, [c.image for c in chips],
                               [np.ones(c.mask.shape, bool) for c in chips],
                               [c.mask for c in chips], t.crop_px, tta=t.teacher_tta)
    imgs, valid, _labels = sim_scenes(simulate_pairs(cfg.seed, cfg.student_pairs, cfg.size_px))
    sim = teacher_targets(teacher, imgs, valid, None, t.crop_px, tta=t.teacher_tta)
    scenes = [s.read() for s in real.values()]
    unlabelled = teacher_targets(teacher, [s.data for s in scenes], [s.valid for s in scenes],
                                 None, t.crop_px, t.real_repeats, tta=t.teacher_tta)
    data = DistilSet.concat([labelled, sim, unlabelled])
    if log:
        log(f"distillation set: {len(labelled)} real labelled + {len(sim)} simulated + "
            f"{len(unlabelled)} real unlabelled crops of {t.crop_px} px")
    student, result = distill_student(teacher, data, t, progress, log)
    save(student, out / "student.pt")
    return {"loss_per_epoch": result.report["loss_per_epoch"], "n_params": n_params(student),
            "teacher_params": n_params(teacher), "real_labelled_crops": len(labelled),
            "simulated_crops": len(sim),
            "real_unlabelled_crops": len(unlabelled) // max(t.real_repeats, 1),
            "real_rasters": sorted(real), "crop_px": t.crop_px,
            "size_bytes_before": result.size_bytes_before,
            "size_bytes_after": result.size_bytes_after,
            "data": "teacher outputs on whole scenes: REAL amazon_forest train chips (hard term: "
                    "true labels), SIMULATED scenes and REAL unlabelled clips data/satellite/distil"
                    " (hard term: teacher argmax)"}


def gate_eval_set(cfg: PipelineConfig, data_dir: Path) -> Any:
    """The gate's eval set: every pixel of the REAL validation chips (targets encode chip and
    truth, see real_metrics); its ``version`` is what serving checks the card's gate against."""
    from core.gates import EvalSet

    chips = cfg.chips(data_dir, "val")
    return EvalSet(name="deforestation-real-val", inputs=ChipUnits(np.stack([c.image
                                                                              for c in chips])),
                   targets=real_metrics.encode_targets([c.mask for c in chips]),
                   slices=real_metrics.slices(chips))


def sim_eval_set(cfg: PipelineConfig) -> Any:
    """Held-out SIMULATED pairs (seed+1000): the reported loss-F1 slices (not gating)."""
    from core.gates import EvalSet

    ev = build_eval(simulate_pairs(cfg.seed + 1000, cfg.eval_pairs, cfg.eval_size_px),
                    cfg.gate_tile_px)
    return EvalSet(name="deforestation-sim-heldout", inputs=ev.inputs, targets=ev.targets,
                   slices=ev.slices)


def _candidates(teacher: Any, student: Any, preds: list[Any]) -> tuple[Any, Any]:
    from core.gates import Candidate

    return (Candidate("teacher-unet-resnet18", preds[0], size_bytes=_size(teacher),
                      has_cache=True, clear_cache=preds[0].clear),
            Candidate("student-fastsegnet", preds[1], size_bytes=_size(student),
                      has_cache=True, clear_cache=preds[1].clear))


def gate_reports(cfg: PipelineConfig, data_dir: Path, teacher: Any, student: Any,
                 meter: Any) -> tuple[Any, Any, dict[str, Any], str]:
    """(accuracy report with model-only speed, forest-F1 report, real-chip tables, eval version)
    on the REAL validation chips."""
    from core.gates import BenchmarkConfig, GateSpec, evaluate_gate

    eval_set = gate_eval_set(cfg, data_dir)
    px = eval_set.inputs.pixels_per_scene
    preds = [ChipPredictor(lambda a, m=m: predict_probs(m, a)) for m in (teacher, student)]
    ref, cand = _candidates(teacher, student, preds)
    bench = BenchmarkConfig(batch_size=px, threads=1, warmup=1, repeats=cfg.bench_repeats,
                            max_units=px, eval_batch_size=px * 2)  # one whole chip per pass
    acc_spec = GateSpec(metric="accuracy_points", metric_fn=real_metrics.mean_chip_accuracy,
                        higher_is_better=True, max_drop=1.0, max_slice_drop=2.0,
                        min_speedup=5.0, max_size_ratio=0.1)
    f1_spec = GateSpec(metric="forest_f1_points", metric_fn=real_metrics.forest_f1,
                       higher_is_better=True, max_drop=1.0, max_slice_drop=2.0)
    acc_report = evaluate_gate(ref, cand, eval_set, acc_spec, bench=bench, meter=meter)
    f1_report = evaluate_gate(ref, cand, eval_set, f1_spec, bench=bench, measure_speed=False)
    chips = cfg.chips(data_dir, "val")
    shape = (len(chips), *chips[0].mask.shape)
    tables = {name: real_metrics.chip_table(chips, list(p(eval_set.inputs).reshape(shape)))
              .to_dict() for name, p in (("teacher", preds[0]), ("student", preds[1]))}
    tables |= {"published": real_metrics.PUBLISHED, "chips": [c.name for c in chips],
               "data": "REAL amazon_forest validation chips (split.json), whole-chip prediction"}
    return acc_report, f1_report, tables, eval_set.version


def sim_rows(cfg: PipelineConfig, teacher: Any, student: Any) -> list[dict[str, Any]]:
    """Loss-F1 and forest-F1 rows on held-out SIMULATED pairs, tiled like batch jobs: reported
    slices (bitemporal change, clouds and sensors the real labels lack), not gating."""
    from core.gates import BenchmarkConfig, GateSpec, evaluate_gate

    eval_set = sim_eval_set(cfg)
    px = eval_set.inputs.pixels_per_scene
    preds = [TiledPredictor(lambda a, m=m: predict_probs(m, a), cfg.gate_tile_px,
                            cfg.overlap_px) for m in (teacher, student)]
    ref, cand = _candidates(teacher, student, preds)
    bench = BenchmarkConfig(batch_size=px, threads=1, max_units=px, eval_batch_size=px * 4)
    reports = [evaluate_gate(ref, cand, eval_set,
                             GateSpec(metric=name, metric_fn=fn, higher_is_better=True,
                                      max_drop=1.0, max_slice_drop=2.0), bench=bench,
                             measure_speed=False)
               for name, fn in (("sim_loss_f1_points", loss_f1),
                                ("sim_forest_f1_points", forest_f1))]
    return [dict(r, gating=False) for r in gate_rows(*reports)]


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
            "tile_px": cfg.batch_tile_px, "tiles": res.tiles_total,
            "repeats": cfg.e2e_repeats, "threads": 1, "data": "real OSCD Águas Claras pair"}


def combined_report(acc_report: Any, forest_report: Any, agree: dict[str, Any],
                    e2e: dict[str, Any], cfg: PipelineConfig) -> Any:
    """One GateReport whose checks also hold forest F1, real agreement and end-to-end speed."""
    from core.gates import Check

    extra = [dataclasses.replace(c, name=f"forest_f1 {c.name}") for c in forest_report.checks]
    extra.append(Check("agreement_real_ood", agree["overall"] >= cfg.min_agreement,
                       f"{agree['overall']:.2%} of real other-sensor pixels same class as the "
                       f"teacher, required {cfg.min_agreement:.0%} (fixed before scoring)"))
    extra.append(Check("speedup_end_to_end", e2e["speedup"] >= cfg.min_e2e_speedup,
                       f"{e2e['speedup']:.2f}× tiles/s on real tiles, required "
                       f"{cfg.min_e2e_speedup:.1f}×"))
    return dataclasses.replace(acc_report, checks=(*acc_report.checks, *extra))


def gate_rows(loss_report: Any, forest_report: Any) -> list[dict[str, Any]]:
    """Rows for the gate table: metric, slice, teacher, student, drop, allowed, ok."""
    rows = []
    for rep in (loss_report, forest_report):
        for m in (rep.overall, *rep.slices):
            rows.append({"metric": rep.metric, "slice": m.slice, "n_pixels": m.n,
                         "teacher": m.reference, "student": m.candidate, "drop": m.drop,
                         "allowed": m.max_drop, "passed": m.passed})
    return rows


def say(msg: str) -> None:
    """A stage line on stderr, flushed (visible when the output is piped to a log)."""
    import sys
    import time

    print(f"[deforestation {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
