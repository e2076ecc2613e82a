"""Run summary, savings booking and the model card of one maintenance pipeline run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.maintenance.config import PipelineConfig
from apps.maintenance.metrics import RulMetrics, SeedStats
from apps.maintenance.savings import LEVELS

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.maintenance.data import CmapssData
    from core.runs import RunResult

logger = logging.getLogger(__name__)
APP = "maintenance"
SAVING_KIND = "avoided_maintenance_emissions"
BASELINE = "fixed-interval replacement at the fleet's safe interval"
PROTOCOL = (
    "Official C-MAPSS test set, one prediction per test engine at its last observed cycle. "
    "Capped: true RUL capped at rul_cap like the training target; uncapped: NASA's true RUL. "
    "RMSE and MAE in cycles; PHM08 score summed over test engines. Mean and sample std over "
    "seeds; each seed re-splits training engines (by engine, never by row) into fit and held-out "
    "engines and refits. Held-out engines calibrate conformal intervals and run the savings "
    "simulation. The first seed's models are served."
)


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


def saving_baseline(subset: str) -> str:
    """The counterfactual a subset's saving is measured against: core.impact counts the latest
    estimate per baseline, so the baseline names the engine fleet (FD001 and FD003 differ)."""
    return f"{BASELINE}, C-MAPSS {subset} held-out engines"


def _book_savings(ctx: AppContext, subset: str, savings: dict[str, Any]) -> bool:
    """Book this evaluation's estimate unless the ledger's latest one for the subset is identical.

    A rerun (new code, --force) re-estimates the same counterfactual; core.impact counts only the
    latest estimate per baseline, so a changed estimate is booked and supersedes the old one in
    reports, while an identical one (a reused evaluation) would only add a copy to the ledger.
    """
    baseline = saving_baseline(subset)
    saved = savings["saved_co2e_kg"]["fixed_interval"]
    booked = [s for s in ctx.ledger.savings(app=APP, kind=SAVING_KIND) if s.baseline == baseline]
    values = (float(saved["central"]), float(saved["low"]), float(saved["high"]))
    if booked and (booked[-1].co2e_kg, booked[-1].co2e_kg_low, booked[-1].co2e_kg_high) == values:
        logger.info("saving for %s already in the ledger (record %s); not booked again", subset,
                    booked[-1].id)
        return False
    ctx.ledger.record_saving(
        app=APP, run_id=f"cmapss-{subset.lower()}", kind=SAVING_KIND, co2e_kg=values[0],
        co2e_kg_low=values[1], co2e_kg_high=values[2], energy_kwh=None, baseline=baseline,
        method=f"{savings['method']} ({savings['n_engines']} engines); modelled, not measured",
        assumptions={f["name"]: {k: f[k] for k in ("unit", *LEVELS, "source")}
                     for f in savings["factors"]},
    )
    return True


def build_summary(ctx: AppContext, cfg: PipelineConfig, data: CmapssData, train: RunResult,
                  comp: RunResult, evaluation: RunResult) -> MaintenanceRunSummary:
    """Assemble the summary; book the saving when the estimate changed; net = saving − footprint."""
    ev = evaluation.outputs
    _book_savings(ctx, data.subset.name, ev["savings"])
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


def write_card(path: Path, cfg: PipelineConfig, data: CmapssData,
               summary: MaintenanceRunSummary, gate: dict[str, Any]) -> Path:
    """Write the model card (metrics, gate report, footprint, protocol, data fingerprint)."""
    from core.gates import ModelCard, ModelRef

    names = {"reference": f"{path.name.removesuffix('.card.json')}-reference.joblib",
             "compact": f"{path.name.removesuffix('.card.json')}-compact.pt"}
    d = summary.to_dict()
    card = ModelCard(
        app=APP, name=f"cmapss-{data.subset.name.lower()}-rul",
        reference=ModelRef(name="gbm-reference", path=names["reference"]),
        candidate=ModelRef(name="mlp-compact", path=names["compact"]),
        metrics={k: d[k] for k in ("reference", "compact", "coverage", "alarms", "ai4i",
                                   "served_model")},
        gates=(gate,),
        footprint=({"footprint_co2e_kg": summary.footprint_co2e_kg,
                    "footprint_energy_kwh": summary.footprint_energy_kwh,
                    "net_co2e_kg": summary.net_co2e_kg,
                    "saved_co2e_kg": summary.savings["saved_co2e_kg"],
                    "scope": "all maintenance ledger footprints (train, compress, evaluate, serve)"},),
        protocol={"text": PROTOCOL, "config": cfg.key_dict(),
                  "subset": data.subset.name, "n_conditions": data.subset.n_conditions},
        eval_version=gate["eval_version"], data_fingerprint=data.fingerprint,
    )
    return card.save(path)
