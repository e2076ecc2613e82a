"""Print the REAL-chip tables of the committed deforestation card as Markdown (for the docs).

    .venv/bin/python benchmarks/deforestation_real_table.py [models/deforestation/forest-loss.card.json]

Every number comes from the card that `greenstack run deforestation` wrote; nothing is computed
here except formatting.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(card_path: Path) -> None:
    card = json.loads(card_path.read_text())
    m = card["metrics"]
    real = m["real_val"]
    print(f"budget {m['budget']['name']!r}: teacher {m['budget']['teacher_wall_s'] / 60:.1f} min, "
          f"student {m['budget']['student_wall_s'] / 60:.1f} min")
    print("\n| model | mean per-chip accuracy | forest F1 | forest IoU |")
    print("| --- | --- | --- | --- |")
    for who in ("teacher", "student"):
        o = real[who]["overall"]
        print(f"| {who} | {o['accuracy_points']:.2f} | {o['forest_f1_points']:.2f} | "
              f"{o['forest_iou_points']:.2f} |")
    for ref in real["published"]:
        print(f"| {ref['model']} (15 other chips) | {ref['accuracy_points']:.1f} | | |")
    print("\n| slice | chips | pixels | teacher acc / F1 | student acc / F1 |")
    print("| --- | --- | --- | --- | --- |")
    for name, t in real["teacher"].items():
        s = real["student"][name]
        print(f"| {name} | {t['n_chips']} | {t['n_pixels']} | {t['accuracy_points']:.2f} / "
              f"{t['forest_f1_points']:.2f} | {s['accuracy_points']:.2f} / "
              f"{s['forest_f1_points']:.2f} |")
    print("\n| gate row | slice | teacher | student | drop | allowed | ok |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in m["gate_rows"]:
        print(f"| {r['metric']} | {r['slice']} | {r['teacher']:.2f} | {r['student']:.2f} | "
              f"{r['drop']:+.2f} | {r['allowed']} | {'yes' if r['passed'] else 'NO'} |")
    gate = card["gates"][-1]
    for c in gate["checks"]:
        if c["name"] in ("speedup", "size", "agreement_real_ood", "speedup_end_to_end"):
            print(f"- {c['name']}: {'ok' if c['passed'] else 'FAIL'}: {c['detail']}")
    a = m["agreement_real"]
    print("- agreement per raster: " + ", ".join(f"{k} {v:.2%}" for k, v in
                                                 a["per_raster"].items()))
    print(f"- verdict: {'PASS' if gate['passed'] else 'FAIL'}")
    print("\n| simulated (reported, not gating) | slice | teacher | student | drop |")
    print("| --- | --- | --- | --- | --- |")
    for r in m["sim_rows"]:
        print(f"| {r['metric']} | {r['slice']} | {r['teacher']:.2f} | {r['student']:.2f} | "
              f"{r['drop']:+.2f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else
         ROOT / "models" / "deforestation" / "forest-loss.card.json")
