"""How much the distilled student's quality depends on the distillation seed.

Distils the student from the shipped teacher (`models/deforestation/teacher.pt`, written by
`greenstack run deforestation`) with the default pipeline config and N seeds, and prints for each
the gate's quality numbers: loss-F1 and forest-F1 drop on the held-out SIMULATED pairs (overall
and worst slice) and class agreement on the held-out REAL rasters. Speed is not measured here.

    .venv/bin/python benchmarks/deforestation_seeds.py [--seeds 0 1 2 3]

About a minute per seed on 2 cores. A single gate run reads one draw from this spread.
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
    """{metric: (overall drop, worst slice drop)} in F1 points, tiled like the gate."""
    import numpy as np

    from apps.deforestation import pipeline as pl
    from apps.deforestation.gate import TiledPredictor, forest_f1, loss_f1
    from apps.deforestation.model import predict_probs

    ev = pl.gate_eval_set(cfg)
    codes = [TiledPredictor(lambda a, m=m: predict_probs(m, a), cfg.gate_tile_px,
                            cfg.overlap_px)(ev.inputs) for m in (teacher, student)]
    masks = {"overall": np.ones(len(ev.targets), dtype=bool)}
    for name, sl in ev.slices.items():
        if sl.dtype == bool:
            masks[name] = sl
        else:
            masks |= {f"{name}={v}": sl == v for v in np.unique(sl)}
    out = {}
    for metric in (loss_f1, forest_f1):
        d = {k: metric(ev.targets[m], codes[0][m]) - metric(ev.targets[m], codes[1][m])
             for k, m in masks.items()}
        out[metric.__name__] = (d.pop("overall"), max(d.values()))
    return out


def main() -> None:
    import torch

    from apps.deforestation import pipeline as pl
    from apps.deforestation.model import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--models", type=Path, default=ROOT / "models" / "deforestation")
    args = ap.parse_args()
    torch.set_num_threads(2)
    base = pl.PipelineConfig()
    teacher = load("teacher", 3, args.models / "teacher.pt")
    real = pl.real_sources(ROOT / "data")
    rows = []
    print("seed  loss-F1 drop (worst slice)  forest-F1 drop (worst slice)  agreement REAL")
    for seed in args.seeds:
        cfg = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        out = Path(tempfile.mkdtemp(prefix="gs-seed-"))
        pl.student_step(cfg, args.models / "teacher.pt", pl.distil_sources(ROOT / "data"), out,
                        None)
        student = load("student", 3, out / "student.pt")
        d = _drops(cfg, teacher, student)
        agree = pl.real_agreement(teacher, student, real)["overall"]
        rows.append((d["loss_f1"][0], agree))
        print(f"{seed:>4}  {d['loss_f1'][0]:>6.2f} ({d['loss_f1'][1]:>6.2f})"
              f"           {d['forest_f1'][0]:>6.2f} ({d['forest_f1'][1]:>6.2f})"
              f"             {100 * agree:6.2f} %", flush=True)
    loss = [r[0] for r in rows]
    agree = [100 * r[1] for r in rows]
    print(f"loss-F1 drop: mean {statistics.mean(loss):.2f}, range {min(loss):.2f}–{max(loss):.2f} "
          f"points (gate allows 1); agreement: mean {statistics.mean(agree):.2f} %, range "
          f"{min(agree):.2f}–{max(agree):.2f} % (gate needs 98)")


if __name__ == "__main__":
    main()
