"""The result of ``greenstack run deforestation`` (frozen, JSON-ready)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

APP = "deforestation"


@dataclass(frozen=True)
class DeforestationRunSummary:
    """Gate, served model, batch job, hectares and CO2, and the footprint of this run.

    ``gate_rows``, ``gate_checks`` and ``real_val`` come from REAL data: the amazon_forest
    validation chips (accuracy, forest F1, slices, model-only speed), other-sensor rasters
    (``agreement_real_ood``) and the OSCD pair (``speedup_end_to_end``). ``sim_rows`` are
    SIMULATED held-out pairs (loss F1 and forest F1 per slice), reported and not gating.
    """

    teacher_run: dict[str, Any]
    student_run: dict[str, Any]
    gate_verdict: str
    gate_reasons: tuple[str, ...]
    gate_rows: tuple[dict[str, Any], ...]
    gate_checks: tuple[dict[str, Any], ...]
    speed_model_only: dict[str, Any]
    speed_end_to_end: dict[str, Any]
    agreement_real: dict[str, Any]
    served_model: str
    served_reason: str
    job: dict[str, Any]
    detected: dict[str, Any]
    official_maps: dict[str, Any]
    footprint: dict[str, Any]
    card_path: str
    real_val: dict[str, Any] = field(default_factory=dict)
    sim_rows: tuple[dict[str, Any], ...] = ()
    budget: str = "full"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def summary_path(ctx: Any) -> Path:
    """Where the last run's summary is written (JSON)."""
    return Path(ctx.app_cache_dir(APP)) / "last_run.json"


def run_info(res: Any, intensity: Any, pue: float) -> dict[str, Any]:
    """Key, reuse, outputs, energy and CO2 of one core.runs run (teacher or student)."""
    from core.units import co2e_kg

    m = res.measurement
    return {"key": res.key, "reused": res.reused, "outputs": res.outputs,
            "energy_kwh": m.energy_kwh, "co2e_kg": co2e_kg(m.energy_j, intensity.g_per_kwh, pue),
            "method": m.method, "wall_s": m.wall_s}


def footprint(t_info: dict[str, Any], s_info: dict[str, Any], ctx: Any,
              intensity: Any) -> dict[str, Any]:
    """Training, distillation and the last batch job's energy and CO2 (from the ledger)."""
    batch = [f for f in ctx.ledger.footprints(app=APP, phase="batch")][-1:]
    b = batch[0] if batch else None
    return {
        "train_kwh": t_info["energy_kwh"], "train_co2e_kg": t_info["co2e_kg"],
        "distil_kwh": s_info["energy_kwh"], "distil_co2e_kg": s_info["co2e_kg"],
        "batch_kwh": getattr(b, "energy_kwh", None), "batch_co2e_kg": getattr(b, "co2e_kg", None),
        "batch_j_per_tile": (b.energy_j / b.count) if b is not None and b.count else None,
        "batch_method": getattr(b, "method", None),
        "reused": {"teacher": t_info["reused"], "student": s_info["reused"]},
        "intensity": {"zone": intensity.zone, "g_per_kwh": intensity.g_per_kwh,
                      "source": intensity.source, "year": intensity.year},
        "method": t_info["method"],
    }
