"""The run summary of ``greenstack run cooling`` (a type at the bottom of the app: the pipeline
builds it, the service returns it, the CLI prints it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    carbon_rule_params: dict[str, float]
    search: dict[str, Any]
    compact: dict[str, Any]
    storage_kwh_th: float
    calibration: dict[str, Any]  # zone model vs the CityLearn building (ASHRAE Guideline 14)
    training_energy_kwh: float
    reused_runs: int
    card_path: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
