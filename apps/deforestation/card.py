"""The forest-loss model card (written by the pipeline) and the ledger's monitoring booking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.deforestation.accounting import LossAccount
from apps.deforestation.summary import APP

CARD_NAME = "forest-loss.card.json"
MONITORING_LABEL = "emissions represented by detected loss (monitoring)"

# Which data each part of the card comes from (issue 14: say which rows are real/simulated).
DATA_SOURCES = {
    "real_val / gate accuracy and forest_f1 rows": "REAL: 8 amazon_forest validation chips "
    "(Sentinel-2 true colour, hand-labelled forest masks), never trained on",
    "agreement_real (out-of-distribution row)": "REAL unlabelled rasters of other sensors: OSCD "
    "Sentinel-2 L1C ×2, Landsat-8 Iguaçu, Sentinel-2 L1C Berlin JP2 (no labels: agreement with "
    "the teacher)",
    "speed_end_to_end": "REAL OSCD Águas Claras pair through the Dask batch path",
    "speedup (model-only)": "REAL validation chips, whole-chip prediction, 1 thread",
    "sim_rows (loss F1, forest F1 per slice; reported, not gating)": "SIMULATED held-out pairs "
    "(bitemporal change, clouds, Landsat-8 and Sentinel-2 reflectance: what the real labels lack)",
    "teacher training": "REAL amazon_forest training chips + SIMULATED scenes (clouds, sensors)",
}


def card_path(models_dir: Path) -> Path:
    """The card in the app's models folder."""
    return Path(models_dir) / CARD_NAME


def write_card(path: Path, pipeline: dict[str, Any], report: Any, t_info: dict[str, Any],
               s_info: dict[str, Any], extra: dict[str, Any]) -> Path:
    """Teacher (reference) vs student (candidate) card with the gate report appended."""
    from core.gates import ModelCard, ModelRef

    card = ModelCard(
        app=APP, name="forest-loss", reference=ModelRef(name="teacher-unet-resnet18",
                                                        path="teacher.pt"),
        candidate=ModelRef(name="student-fastsegnet", path="student.pt"),
        metrics=extra, footprint=(t_info, s_info), protocol={"pipeline": pipeline},
        data_fingerprint=t_info["key"])
    return card.with_gate(report).save(path)


def book_monitoring(ctx: Any, run_id: str, acct: LossAccount, source: str) -> None:
    """Book the CO2 the loss represents as kind ``monitoring`` (never a saving)."""
    ctx.ledger.record_saving(
        app=APP, run_id=run_id, kind="monitoring",
        co2e_kg=acct.co2_t_with_roots * 1000, co2e_kg_low=acct.co2_t_with_roots_low * 1000,
        co2e_kg_high=acct.co2_t_with_roots_high * 1000, energy_kwh=None,
        # The baseline names what was mapped: accounting the same area again supersedes the
        # earlier figure in core.impact instead of adding to it.
        baseline=f"none: monitoring of {source}, not an avoided emission", method=acct.method,
        assumptions={"label": MONITORING_LABEL, "loss_ha": acct.loss_ha, "source": source,
                     "co2_t_above_ground": acct.co2_t_above_ground, **acct.factors},
        notes=MONITORING_LABEL)
