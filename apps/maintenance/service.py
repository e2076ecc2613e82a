"""MaintenanceService: the one API the CLI, REST router and dashboard call.

``run_pipeline`` runs :func:`apps.maintenance.pipeline.run`; serving is ``predict_frame`` /
``predict_rows`` / ``predict_csv`` with the gated model; ``model_card`` and ``fleet`` feed the
dashboard; :func:`fetch_dataset` downloads the public datasets. Surfaces get the service from
:func:`service_for`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from apps.context import cached_service
from apps.maintenance.config import PipelineConfig
from apps.maintenance.serving import EnginePrediction, ServedModel, artifact_names
from apps.maintenance.summary import APP, MaintenanceRunSummary
from core.ledger.serving import serving_book

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.progress import Progress


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


def service_for(ctx: AppContext) -> MaintenanceService:
    """The maintenance service of ``ctx`` (one per context: its loaded models are shared)."""
    return cached_service(ctx, APP, MaintenanceService)


def fetch_dataset(name: str, dest: Path, url: str | None = None) -> list[Path]:
    """Download ``cmapss`` or ``ai4i`` into ``dest`` (needs internet); returns the files written."""
    from apps.maintenance.fetch import fetch_dataset as fetch

    return fetch(name, dest, url=url)


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

    def run_pipeline(self, progress: Progress = None, config: PipelineConfig | None = None,
                     force: bool | None = None, **options: Any) -> MaintenanceRunSummary:
        """Run (or reuse) every stage; ``options`` override PipelineConfig fields (e.g. subset)."""
        from apps.maintenance.pipeline import run

        cfg = config or PipelineConfig(**{"subset": self.subset, **options})
        ctx = self.ctx if force is None else replace(self.ctx, force=force)
        summary = run(ctx, cfg, progress, data_dir=self.data_dir)
        with self._lock:
            self._served.pop(cfg.subset, None)  # the next prediction loads the new model
        return summary

    def fleet(self, subset: str | None = None) -> dict[str, Any] | None:
        """Last pipeline's test-fleet predictions (for the dashboard), or None if none ran."""
        from apps.maintenance.fleet import load_fleet

        return load_fleet(self.ctx.app_cache_dir(APP), subset or self.subset)

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

    def predict_rows(self, rows: Sequence[Sequence[float]], subset: str | None = None
                     ) -> PredictionBatch:
        """Predict from rows of 26 numbers (unit, cycle, 3 settings, 21 sensors), e.g. from JSON."""
        import numpy as np

        from apps.maintenance.data import frame_from_rows

        return self.predict_frame(frame_from_rows(np.asarray(rows, dtype=float), "request"), subset)

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
