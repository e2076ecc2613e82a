"""Probe: train the real-chip teacher at a stated step budget and print its real validation table.

Prints, for the final model (EMA of weights + recomputed BatchNorm, the rule fixed in advance) and
for the plain last-step weights (for comparison only; never used to choose), mean per-chip pixel
accuracy, forest F1 and IoU on the REAL validation chips of data/satellite/amazon_forest.

    PYTHONPATH=. .venv/bin/python benchmarks/deforestation_real_probe.py --steps 360 --crop 160 \
        --out /tmp/probe  # writes teacher.pt, teacher_raw.pt and table.json there
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import numpy as np

    from apps.deforestation.model import predict_probs, save
    from apps.deforestation.real_chips import AmazonForestChips
    from apps.deforestation.real_metrics import chip_table
    from apps.deforestation.train import MixedCrops, RealTeacherBudget, train_teacher_real

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=360)
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--sim", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    train = AmazonForestChips(ROOT / "data", "train").load()
    val = AmazonForestChips(ROOT / "data", "val").load()
    budget = RealTeacherBudget(steps=a.steps, batch_size=a.batch, sim_per_batch=a.sim,
                               crop_px=a.crop, lr=a.lr, ema_decay=a.ema, log_every=10)
    log(f"{len(train)} train / {len(val)} val chips; {budget}")
    data = MixedCrops([c.image for c in train], [c.mask for c in train], budget)
    keep: dict[str, object] = {}
    model, hist = train_teacher_real(data, log=log, keep_raw=keep)
    a.out.mkdir(parents=True, exist_ok=True)
    save(model, a.out / "teacher.pt")
    save(keep["raw"], a.out / "teacher_raw.pt")
    tables = {}
    for name, m in (("ema_bn", model), ("raw_last", keep["raw"].eval())):
        preds = [predict_probs(m, c.image).argmax(0) for c in val]
        tables[name] = chip_table(val, preds).to_dict()
        o = tables[name]["overall"]
        log(f"{name}: acc {o['accuracy_points']:.2f} F1 {o['forest_f1_points']:.2f} "
            f"IoU {o['forest_iou_points']:.2f} | " + " ".join(
                f"{k}:{v['accuracy_points']:.1f}" for k, v in tables[name].items()))
    (a.out / "table.json").write_text(json.dumps({"budget": str(budget), "history": hist,
                                                  "tables": tables}, indent=1))
    np.save(a.out / "done.npy", np.zeros(1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
