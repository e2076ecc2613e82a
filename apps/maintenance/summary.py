"""The summary of one maintenance pipeline run (what `greenstack run maintenance` reports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apps.maintenance.config import PipelineConfig
from apps.maintenance.metrics import RulMetrics, SeedStats
from apps.maintenance.savings import LEVELS

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.maintenance.data import CmapssData
    from core.runs import RunResult

APP = "maintenance"


@dataclass(frozen=True)
class MaintenanceRunSummary:
    """What `greenstack run maintenance` reports (all RUL numbers in cycles)."""

    subset: str
    reference: SeedStats
    compact: SeedStats
    served: str
    gate: dict[str, Any]
    coverage: dict[str, float]
    alarms: dict[str, float]
    savings: dict[str, Any]
    ai4i: dict[str, Any] | None
    footprint_co2e_kg: float
    footprint_energy_kwh: float
    net_co2e_kg: dict[str, float]
    reused: dict[str, bool]
    card_path: str

    def _served_stats(self) -> SeedStats:
        return self.compact if self.served == "compact" else self.reference

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; headline numbers are the served model's means over seeds."""
        m = self._served_stats().mean
        return {
            "app": APP, "subset": self.subset, "served_model": self.served,
            "rmse_capped": m["rmse_capped"], "rmse_uncapped": m["rmse_uncapped"],
            "phm08_score": m["phm08_capped"], "phm08_score_uncapped": m["phm08_uncapped"],
            "mae": m["mae_capped"], "mae_uncapped": m["mae_uncapped"],
            "gate_verdict": self.gate["verdict"], "gate_reasons": self.gate["reasons"],
            "net_kgco2e": self.net_co2e_kg["central"], "net_co2e_kg": self.net_co2e_kg,
            "reference": self.reference.to_dict(), "compact": self.compact.to_dict(),
            "gate": self.gate, "coverage": self.coverage, "alarms": self.alarms,
            "savings": self.savings, "ai4i": self.ai4i,
            "footprint_co2e_kg": self.footprint_co2e_kg,
            "footprint_energy_kwh": self.footprint_energy_kwh,
            "reused": self.reused, "card_path": self.card_path,
        }


def _stats(result: RunResult, cfg: PipelineConfig) -> SeedStats:
    runs = [RulMetrics(**result.outputs["seeds"][str(s)]["metrics"]) for s in cfg.seeds]
    return SeedStats.over(runs, list(cfg.seeds))


def _gate_summary(gate: dict[str, Any]) -> dict[str, Any]:
    speed = gate.get("speed") or {}
    return {
        "verdict": gate["verdict"], "passed": gate["passed"], "reasons": gate["reasons"],
        "overall": gate["overall"], "slices": gate["slices"],
        "speedup": speed.get("speedup"),
        "size_bytes": {"reference": gate["reference_size_bytes"],
                       "compact": gate["candidate_size_bytes"]},
        "energy": gate.get("energy"), "energy_note": gate.get("energy_note"),
        "checks": gate["checks"],
    }


def build_summary(ctx: AppContext, cfg: PipelineConfig, data: CmapssData, train: RunResult,
                  comp: RunResult, evaluation: RunResult) -> MaintenanceRunSummary:
    """Assemble the summary from the three runs; net = saving − every maintenance footprint."""
    ev = evaluation.outputs
    footprints = ctx.ledger.footprints(app=APP)
    fp_kg = sum(f.co2e_kg for f in footprints)
    fp_kwh = sum(f.energy_kwh * f.pue for f in footprints)
    saved = ev["savings"]["saved_co2e_kg"]["fixed_interval"]
    net = {lv: saved[lv] - fp_kg for lv in LEVELS}
    return MaintenanceRunSummary(
        subset=data.subset.name, reference=_stats(train, cfg), compact=_stats(comp, cfg),
        served=ev["served"], gate=_gate_summary(ev["gate"]), coverage=ev["coverage"],
        alarms={k: v for k, v in ev["alarms"].items() if k != "alarm_at_last_cycle"}, savings={k: v for k, v in ev["savings"].items()},
        ai4i=ev.get("ai4i"), footprint_co2e_kg=fp_kg, footprint_energy_kwh=fp_kwh,
        net_co2e_kg=net,
        reused={"train": train.reused, "compress": comp.reused, "evaluate": evaluation.reused},
        card_path=str(ctx.app_models_dir(APP) / f"cmapss-{data.subset.name.lower()}.card.json"),
    )
