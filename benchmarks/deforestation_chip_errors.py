"""Per-chip errors of the trained teacher and student on the REAL validation chips.

    .venv/bin/python benchmarks/deforestation_chip_errors.py [MODELS_DIR]  # default models/deforestation

For each validation chip of data/satellite/amazon_forest: its forest share (mask), and per model
the pixel accuracy, the share of the chip called forest where the mask says non-forest, and the
share of the chip missed (mask forest, called not forest). Whole-chip prediction, as the gate.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(models_dir: Path) -> None:
    from apps.deforestation.bands import MODEL_BANDS
    from apps.deforestation.model import load, predict_probs
    from apps.deforestation.real_chips import AmazonForestChips

    models = {k: load(k, len(MODEL_BANDS), models_dir / f"{k}.pt") for k in ("teacher", "student")}
    print("| chip | forest share | model | accuracy % | false forest % | missed forest % |")
    print("| --- | --- | --- | --- | --- | --- |")
    for chip in AmazonForestChips(ROOT / "data", "val").load():
        forest = chip.mask == 1
        for name, model in models.items():
            called = predict_probs(model, chip.image).argmax(0) == 1  # cloud counts as not forest
            print(f"| {chip.name} | {forest.mean():.2f} | {name} | {100 * (called == forest).mean():.2f}"
                  f" | {100 * (called & ~forest).mean():.2f} | {100 * (~called & forest).mean():.2f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "deforestation")
