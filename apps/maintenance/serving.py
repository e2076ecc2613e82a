"""The served RUL model: the gated choice (compact if its gate passed, else the reference), its
conformal intervals and alarm rule, loaded from ``models/maintenance/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apps.maintenance.alarms import AlarmPolicy, debounce
from apps.maintenance.config import PipelineConfig
from apps.maintenance.conformal import ConformalRul
from apps.maintenance.model import clip_rul
from apps.maintenance.train import (
    SeedBundle,
    bundle_path,
    compact_path,
    load_bundle,
    load_compact,
)
from core.errors import ModelError

logger = logging.getLogger(__name__)


def install_artifacts(models_dir: Path, cfg: PipelineConfig, train_dir: Path, comp_dir: Path,
                      ev: dict[str, Any]) -> None:
    """Copy the served seed's artifacts into ``models/maintenance/`` (git-ignored files)."""
    import shutil

    import joblib

    names = artifact_names(cfg.subset)
    shutil.copyfile(bundle_path(train_dir, cfg.served_seed), models_dir / names["reference"])
    shutil.copyfile(compact_path(comp_dir, cfg.served_seed), models_dir / names["compact"])
    meta = {"eval_version": ev["eval_version"], "conformal": ev["conformal"],
            "alarm": cfg.alarm.__dict__, "alpha": cfg.interval_alpha, "cap": cfg.rul_cap}
    joblib.dump(meta, models_dir / names["serving"])


def artifact_names(subset: str) -> dict[str, str]:
    """File names under ``models/maintenance/`` for one subset."""
    stem = f"cmapss-{subset.lower()}"
    return {"card": f"{stem}.card.json", "reference": f"{stem}-reference.joblib",
            "compact": f"{stem}-compact.pt", "serving": f"{stem}-serving.joblib"}


@dataclass(frozen=True)
class EnginePrediction:
    """One engine's prediction [cycles] with a (1−alpha) interval and the alarm state."""

    unit: int
    cycles_seen: int
    rul_cycles: float
    rul_low_cycles: float
    rul_high_cycles: float
    p_fail_within_lead: float
    alarm: bool


@dataclass
class ServedModel:
    """Loaded artifacts and the serving decision."""

    subset: str
    bundle: SeedBundle
    model_name: str  # "mlp-compact" | "gbm-reference"
    predict_fn: Any
    conformal: ConformalRul
    alarm: AlarmPolicy
    alpha: float
    cap: float
    reason: str

    @classmethod
    def load(cls, models_dir: Path, subset: str) -> ServedModel:
        """Load from ``models_dir`` (``models/maintenance``), asking core.gates what to serve."""
        import joblib

        from core.gates import load_served_choice

        names = artifact_names(subset)
        serving_path = models_dir / names["serving"]
        if not serving_path.is_file():
            raise ModelError(f"no trained {subset} model in {models_dir}: run "
                             f"`greenstack run maintenance --subset {subset}` first")
        try:
            meta = joblib.load(serving_path)
        except (OSError, EOFError, ValueError) as e:
            raise ModelError(f"cannot load {serving_path}: {e}; rerun the pipeline") from e
        bundle = load_bundle(models_dir / names["reference"])
        choice = load_served_choice(models_dir / names["card"], meta["eval_version"])
        if choice.served == "candidate":
            net = load_compact(models_dir / names["compact"])
            name, fn, calib = "mlp-compact", net.predict, meta["conformal"]["compact"]
        else:
            name, fn = "gbm-reference", bundle.reference.predict
            calib = meta["conformal"]["reference"]
        logger.info("serving %s for %s: %s", name, subset, choice.reason)
        return cls(subset, bundle, name, fn, ConformalRul.from_dict(calib),
                   AlarmPolicy(**meta["alarm"]), meta["alpha"], meta["cap"], choice.reason)

    def predict_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """RUL [cycles] for every row (each row sees only its unit's earlier cycles)."""
        X = self.bundle.pipeline.features(frame).to_numpy()
        return clip_rul(self.predict_fn(X), self.cap)

    def predict_engines(self, frame: pd.DataFrame) -> list[EnginePrediction]:
        """One prediction per unit at its last cycle, alarm debounced over its recent cycles."""
        self.bundle.pipeline.last_window_features(frame)  # validates cycles per unit
        pred = self.predict_rows(frame)
        prob = self.conformal.prob_rul_at_most(pred, self.alarm.lead_time_cycles)
        units = frame["unit"].to_numpy()
        alarm = debounce(self.alarm.raw(prob), units, self.alarm.debounce_cycles)
        low, high = self.conformal.interval(pred, self.alpha)
        last = np.r_[units[1:] != units[:-1], True]
        counts = frame.groupby("unit", sort=False)["cycle"].count()
        return [
            EnginePrediction(int(units[i]), int(counts[units[i]]), float(pred[i]), float(low[i]),
                             float(high[i]), float(prob[i]), bool(alarm[i]))
            for i in np.flatnonzero(last)
        ]
