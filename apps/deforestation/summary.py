"""The result of ``greenstack run deforestation`` (frozen, JSON-ready)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
