"""MaintenanceService: the one API the CLI, REST router and dashboard call.

``run_pipeline``: prepare → train (reused if finished) → compress → gate → evaluate → savings →
model card + ledger. Serving: ``predict_frame`` / ``predict_csv`` with the gated model.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from apps.maintenance.config import PipelineConfig
from apps.maintenance.data import cmapss_dir, load_cmapss
from apps.maintenance.serving import EnginePrediction, ServedModel, artifact_names
from apps.maintenance.summary import MaintenanceRunSummary, build_summary, write_card
from core.ledger.serving import serving_book

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.maintenance.train import Progress

logger = logging.getLogger(__name__)
APP = "maintenance"
APP_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PredictionBatch:
    """Predictions for a request, the model that made them and the measured energy."""

    subset: str
    model: str
    model_reason: str
    predictions: tuple[EnginePrediction, ...]
    energy_j: float
    energy_j_per_engine: float | None
    energy_method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = dict(self.__dict__)
        out["predictions"] = [p.__dict__ for p in self.predictions]
        return out


@contextmanager
def _thread_limit(threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl) and torch intra-op threads, restoring them after."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)


class MaintenanceService:
    """Predictive maintenance on C-MAPSS (+ AI4I). ``data_dir`` holds NASA's files (or ``cmapss/``)."""

    def __init__(self, ctx: AppContext, subset: str = "FD001", data_dir: Path | None = None):
        self.ctx = ctx
        self.subset = subset.upper()
        self.data_dir = Path(data_dir) if data_dir else ctx.data_dir
        self._served: dict[str, ServedModel] = {}
        self._lock = threading.Lock()

    @property
    def models_dir(self) -> Path:
        """``models/maintenance/``."""
        return self.ctx.app_models_dir(APP)

    def _ai4i_path(self) -> Path | None:
        # The user's data dir first, then the shipped sample (a NASA-only folder has no AI4I).
        roots = (self.data_dir, self.ctx.data_dir, APP_DIR.parents[1] / "data")
        for p in (r / "ai4i" / f"ai4i2020.csv{ext}" for r in roots for ext in (".gz", "")):
            if p.is_file():
                return p
        logger.warning("AI4I file not found under %s; AI4I metrics skipped", self.data_dir)
        return None

    def run_pipeline(self, progress: Progress = None, config: PipelineConfig | None = None,
                     force: bool | None = None, **options: Any) -> MaintenanceRunSummary:
        """Run (or reuse) every stage; ``options`` override PipelineConfig fields (e.g. subset)."""
        cfg = config or PipelineConfig(**{"subset": self.subset, **options})
        with _thread_limit(cfg.threads):
            return self._run_pipeline(cfg, progress, self.ctx.force if force is None else force)

    def _run_pipeline(self, cfg: PipelineConfig, progress: Progress, force: bool
                      ) -> MaintenanceRunSummary:
        from apps.maintenance.evaluate import evaluate_step
        from apps.maintenance.train import compress_step, train_step
        from core.runs import fingerprint_paths, run_key

        data = load_cmapss(cmapss_dir(self.data_dir), cfg.subset)
        ai4i = self._ai4i_path() if cfg.ai4i else None
        store = self.ctx.run_store()

        def key(step: str, **extra: Any) -> str:  # code version: core + this app's package
            return run_key(config={"step": f"{APP}.{step}", **cfg.key_dict(), **extra},
                           data_fingerprint=data.fingerprint)

        k_train = key("train")
        train = store.get_or_run(k_train, lambda d: train_step(data, cfg, d, progress), APP,
                                 "train", force)
        k_comp = key("compress", train=k_train)
        comp = store.get_or_run(
            k_comp, lambda d: compress_step(data, cfg, train.artifacts_dir, d, progress), APP,
            "compress", force)
        ai4i_fp = fingerprint_paths([ai4i]) if ai4i else None  # content, not path spelling
        k_eval = key("evaluate", compress=k_comp, ai4i=ai4i_fp)
        evaluation = store.get_or_run(
            k_eval, lambda d: evaluate_step(data, cfg, train.artifacts_dir, comp.artifacts_dir,
                                            self.ctx.meter, ai4i), APP, "evaluate", force)
        if progress:
            progress("evaluate", 1, 1)
        self._install(cfg, train.artifacts_dir, comp.artifacts_dir, evaluation.outputs)
        summary = build_summary(self.ctx, cfg, data, train, comp, evaluation)
        write_card(self.models_dir / artifact_names(cfg.subset)["card"], cfg, data, summary,
                   evaluation.outputs["gate"])
        self._save_fleet(cfg, data, train.outputs, evaluation.outputs)
        with self._lock:
            self._served.pop(cfg.subset, None)
        return summary

    def _install(self, cfg: PipelineConfig, train_dir: Path, comp_dir: Path,
                 ev: dict[str, Any]) -> None:
        """Copy the served seed's artifacts into ``models/maintenance/`` (git-ignored files)."""
        import joblib

        from apps.maintenance.train import bundle_path, compact_path

        names = artifact_names(cfg.subset)
        shutil.copyfile(bundle_path(train_dir, cfg.served_seed), self.models_dir / names["reference"])
        shutil.copyfile(compact_path(comp_dir, cfg.served_seed), self.models_dir / names["compact"])
        meta = {"eval_version": ev["eval_version"], "conformal": ev["conformal"],
                "alarm": cfg.alarm.__dict__, "alpha": cfg.interval_alpha, "cap": cfg.rul_cap}
        joblib.dump(meta, self.models_dir / names["serving"])

    def _fleet_path(self, subset: str) -> Path:
        return self.ctx.app_cache_dir(APP) / f"fleet-{subset.lower()}.json"

    def _save_fleet(self, cfg: PipelineConfig, data: Any, train_out: dict[str, Any],
                    ev: dict[str, Any]) -> None:
        seed = train_out["seeds"][str(cfg.served_seed)]
        fleet = {"subset": cfg.subset, "units": seed["units"], "true_rul": data.test_rul.tolist(),
                 "served": ev["served"], **ev["test_served"], "cap": cfg.rul_cap,
                 "alarm": ev["alarms"]["alarm_at_last_cycle"]}
        self._fleet_path(cfg.subset).write_text(json.dumps(fleet))

    def fleet(self, subset: str | None = None) -> dict[str, Any] | None:
        """Last pipeline's test-fleet predictions (for the dashboard), or None if none ran."""
        path = self._fleet_path(subset or self.subset)
        return json.loads(path.read_text()) if path.is_file() else None

    def model_card(self, subset: str | None = None) -> dict[str, Any]:
        """The model card as a dict; ModelError when the pipeline has not run."""
        from core.errors import ModelError
        from core.gates import ModelCard

        subset = (subset or self.subset).upper()
        path = self.models_dir / artifact_names(subset)["card"]
        if not path.is_file():
            raise ModelError(f"no {subset} model card yet: run "
                             f"`greenstack run maintenance --subset {subset}`")
        return ModelCard.load(path).model_dump(mode="json")

    def served(self, subset: str | None = None) -> ServedModel:
        """The loaded, gated model for ``subset`` (cached per process)."""
        key = (subset or self.subset).upper()
        with self._lock:
            if key not in self._served:
                self._served[key] = ServedModel.load(self.models_dir, key)
            return self._served[key]

    def predict_frame(self, frame: pd.DataFrame, subset: str | None = None) -> PredictionBatch:
        """Predict every unit of a validated trajectory frame; metered and booked as ``serve``."""
        model = self.served(subset)
        from core.errors import EnergyBackendError

        n_units = int(frame["unit"].nunique())
        with self.ctx.meter.window(f"{APP}.predict", unit="engine") as w:
            preds = model.predict_engines(frame)
            w.count += n_units
        m = w.measurement
        if m is None:  # a closed window always holds one; guard rather than book a hole
            raise EnergyBackendError("the meter window closed without a measurement")
        serving_book(self.ctx.ledger).add(  # one ledger row per minute, not per request
            app=APP, run_id=f"serve-{model.subset.lower()}", measurement=m,
            intensity=self.ctx.carbon.intensity(at=None), pue=self.ctx.pue,
            detail=model.model_name, counters={"engines": n_units})
        return PredictionBatch(model.subset, model.model_name, model.reason, tuple(preds),
                               m.energy_j, m.j_per_unit, m.method)

    def predict_csv(self, content: bytes, subset: str | None = None) -> PredictionBatch:
        """Predict from NASA-format text (26 whitespace- or comma-separated columns per row)."""
        from apps.maintenance.data import frame_from_rows, parse_rows
        from core.errors import DataError

        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise DataError("upload is not UTF-8 text; send NASA C-MAPSS rows as text") from e
        values = parse_rows(text.replace(",", " "), "upload")
        return self.predict_frame(frame_from_rows(values, "upload"), subset)
