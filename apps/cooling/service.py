"""CoolingService: the one API the CLI, REST router and dashboard call.

``run_pipeline`` = prepare -> tune heuristic -> SAC search (successive halving) -> SAC + PPO per
seed -> evaluate on held-out weather/grid pairs -> distil + gate the compact policy -> savings to
the ledger -> model card. Serving calls (telemetry, recommendation, signals, savings report)
live in :mod:`apps.cooling.bms` and are exposed here.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.context import AppContext
from apps.cooling.scenario import ScenarioSpec, default_train_spec, held_out_specs
from apps.progress import Progress

log = logging.getLogger(__name__)
CARD_NAME = "cooling-agent"


@dataclass(frozen=True)
class CoolingRunSummary:
    """What ``greenstack run cooling`` produced (simulated KPIs, measured training compute)."""

    run_id: str
    building: str
    train_scenario: str
    eval_scenarios: tuple[str, ...]
    agent_algo: str
    kpis: dict[str, dict[str, dict[str, float]]]  # controller -> kpi -> {mean, spread, n_seeds}
    per_scenario: dict[str, dict[str, list[dict[str, float]]]]
    targets: dict[str, Any]
    heuristic_params: dict[str, float]
    search: dict[str, Any]
    compact: dict[str, Any]
    training_energy_kwh: float
    reused_runs: int
    card_path: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class CoolingService:
    """Cooling app service over an :class:`AppContext`."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def card_path(self) -> Path:
        """The office agent's model card (the one the BMS endpoints serve)."""
        return self.card_path_for("office")

    def card_path_for(self, building: str) -> Path:
        name = CARD_NAME if building == "office" else f"{CARD_NAME}-{building}"
        return self.ctx.app_models_dir("cooling") / f"{name}.card.json"

    def specs(self, building: str = "office") -> tuple[ScenarioSpec, tuple[ScenarioSpec, ...]]:
        """Training and held-out scenarios from the context's data dir."""
        return (default_train_spec(building, self.ctx.data_dir),
                held_out_specs(building, self.ctx.data_dir))

    def run_pipeline(self, progress: Progress = None, **options: Any) -> CoolingRunSummary:
        """The ``greenstack run cooling`` job (see module doc); options go to TrainPlan."""
        from apps.cooling.pipeline import run_pipeline

        return run_pipeline(self, progress=progress, **options)

    def evaluate_files(self, weather: str | Path, grid: str | Path, building: str = "office",
                       days: int | None = None) -> dict[str, Any]:
        """Every baseline and the trained agent on one weather file + one hourly grid CSV."""
        from apps.cooling.pipeline import evaluate_files

        return evaluate_files(self, Path(weather), Path(grid), building, days)

    def new_run_id(self) -> str:
        return f"cooling-{uuid.uuid4().hex[:12]}"

    # -- serving (BMS / grid) --------------------------------------------------------------
    @functools.cached_property
    def bms(self) -> Any:
        """The BMS/grid serving state (tables in the ledger database)."""
        from apps.cooling.bms import BmsService

        return BmsService(self.ctx, card_path=self.card_path)


@functools.lru_cache(maxsize=8)
def _service_for(ctx_id: int, ctx: AppContext) -> CoolingService:
    return CoolingService(ctx)


def service_for(ctx: AppContext) -> CoolingService:
    """A cached service per context (the router's dependency)."""
    return _service_for(id(ctx), ctx)
