"""The result of ``greenstack run deforestation`` (frozen, JSON-ready)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeforestationRunSummary:
    """Gate, served model, batch job, hectares and CO2, and the footprint of this run.

    ``gate_rows`` and ``gate_checks`` come from SIMULATED held-out scenes except the checks named
    ``agreement_real`` and ``speedup_end_to_end``, which use the REAL shipped rasters.
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
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)
