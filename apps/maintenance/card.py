"""The model card of a maintenance run and the booking of its saving.

The saving is an estimate of one counterfactual per engine fleet: replacing engines at a fixed
interval instead of when the served model's alarm says so. Its stable id is
:func:`counterfactual_id`; core.impact counts the latest estimate per id, so a rerun supersedes
the earlier figure and rewording :func:`saving_baseline` changes nothing in the totals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.maintenance.config import PipelineConfig
from apps.maintenance.savings import LEVELS
from apps.maintenance.summary import APP, MaintenanceRunSummary

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.maintenance.data import CmapssData

logger = logging.getLogger(__name__)
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


def counterfactual_id(subset: str) -> str:
    """Stable id of a subset's counterfactual (fixed-interval replacement of that fleet).

    It is the slug of the description the ledger held before ids existed, so those records are
    superseded by today's bookings.
    """
    return (f"fixed-interval-replacement-at-the-fleet-s-safe-interval-c-mapss-{subset.lower()}"
            "-held-out-engines")


def saving_baseline(subset: str) -> str:
    """The counterfactual in words (the ledger's ``baseline`` description)."""
    return f"{BASELINE}, C-MAPSS {subset} held-out engines"


def book_saving(ctx: AppContext, subset: str, savings: dict[str, Any]) -> bool:
    """Book this evaluation's estimate unless the ledger's latest one for the subset is identical.

    A rerun (new code, --force) re-estimates the same counterfactual and supersedes the older
    estimate in reports; an identical estimate (a reused evaluation) would only add a copy.
    """
    cf_id = counterfactual_id(subset)
    saved = savings["saved_co2e_kg"]["fixed_interval"]
    booked = [s for s in ctx.ledger.savings(app=APP, kind=SAVING_KIND)
              if s.counterfactual_id == cf_id]  # fmt: skip
    values = (float(saved["central"]), float(saved["low"]), float(saved["high"]))
    if booked and (booked[-1].co2e_kg, booked[-1].co2e_kg_low, booked[-1].co2e_kg_high) == values:
        logger.info("saving for %s already in the ledger (record %s); not booked again", subset,
                    booked[-1].id)
        return False
    ctx.ledger.record_saving(
        app=APP, run_id=f"cmapss-{subset.lower()}", kind=SAVING_KIND, counterfactual_id=cf_id,
        co2e_kg=values[0], co2e_kg_low=values[1], co2e_kg_high=values[2], energy_kwh=None,
        baseline=saving_baseline(subset),
        method=f"{savings['method']} ({savings['n_engines']} engines); modelled, not measured",
        assumptions={f["name"]: {k: f[k] for k in ("unit", *LEVELS, "source")}
                     for f in savings["factors"]},
    )
    return True


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
