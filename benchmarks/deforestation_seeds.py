"""How much the distilled student's quality depends on the distillation seed.

Distils the student from the shipped teacher (`models/deforestation/teacher.pt`, written by
`greenstack run deforestation`) with the full-budget pipeline config and N seeds, and prints for
each the gate's quality numbers: drop of mean per-chip accuracy and of forest F1 on the REAL
validation chips (overall and worst slice) and class agreement on the REAL other-sensor rasters.
Speed is not measured here.

    .venv/bin/python benchmarks/deforestation_seeds.py [--seeds 0 1 2 3]

A single gate run reads one draw from this spread.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _drops(cfg, teacher, student) -> dict[str, tuple[float, float]]:
    """{metric: (overall drop, worst slice drop)} in points on the REAL validation chips."""
    import numpy as np

    from apps.deforestation import real_metrics
    from apps.deforestation import steps as pl
    from apps.deforestation.gate import ChipPredictor
    from apps.deforestation.model import predict_probs

    ev = pl.gate_eval_set(cfg, ROOT / "data")
    codes = [ChipPredictor(lambda a, m=m: predict_probs(m, a))(ev.inputs)
             for m in (teacher, student)]
    masks = {"overall": np.ones(len(ev.targets), dtype=bool), **ev.slices}
    out = {}
    for metric in (real_metrics.mean_chip_accuracy, real_metrics.forest_f1):
        d = {k: metric(ev.targets[m], codes[0][m]) - metric(ev.targets[m], codes[1][m])
             for k, m in masks.items()}
        out[metric.__name__] = (d.pop("overall"), max(d.values()))
    return out


def main() -> None:
    import torch

    from apps.deforestation import steps as pl
    from apps.deforestation.model import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--models", type=Path, default=ROOT / "models" / "deforestation")
    args = ap.parse_args()
    torch.set_num_threads(2)
    base = pl.PipelineConfig.for_budget("full")
    teacher = load("teacher", 3, args.models / "teacher.pt")
    real = pl.real_sources(ROOT / "data")
    rows = []
    print("seed  accuracy drop (worst slice)  forest-F1 drop (worst slice)  agreement REAL OOD")
    for seed in args.seeds:
        cfg = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        out = Path(tempfile.mkdtemp(prefix="gs-seed-"))
        pl.student_step(cfg, ROOT / "data", args.models / "teacher.pt",
                        pl.distil_sources(ROOT / "data"), out, None)
        student = load("student", 3, out / "student.pt")
        d = _drops(cfg, teacher, student)
        agree = pl.real_agreement(teacher, student, real)["overall"]
        acc = d["mean_chip_accuracy"]
        rows.append((acc[0], agree))
        print(f"{seed:>4}  {acc[0]:>6.2f} ({acc[1]:>6.2f})"
              f"           {d['forest_f1'][0]:>6.2f} ({d['forest_f1'][1]:>6.2f})"
              f"             {100 * agree:6.2f} %", flush=True)
    drops = [r[0] for r in rows]
    agree = [100 * r[1] for r in rows]
    print(f"accuracy drop: mean {statistics.mean(drops):.2f}, range {min(drops):.2f}–"
          f"{max(drops):.2f} points (gate allows 1); agreement: mean "
          f"{statistics.mean(agree):.2f} %, range {min(agree):.2f}–{max(agree):.2f} % "
          f"(gate needs {100 * base.min_agreement:.0f})")


if __name__ == "__main__":
    main()
