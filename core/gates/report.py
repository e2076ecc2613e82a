"""The gate's verdict and the numbers behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.gates.bench import SpeedComparison


@dataclass(frozen=True)
class MetricComparison:
    """One metric on one slice (``"overall"`` or a slice name) for both models."""

    slice: str
    n: int  # units in the slice
    reference: float
    candidate: float
    delta: float  # candidate − reference, metric units
    drop: float  # worsening, direction-aware (positive = worse)
    max_drop: float | None
    passed: bool


@dataclass(frozen=True)
class EnergyComparison:
    """Joules per unit measured in the interleaved benchmark windows."""

    reference_j_per_unit: float
    candidate_j_per_unit: float
    reduction: float  # 1 − candidate / reference
    method: str  # weakest method of the two (counter / power_sampled / modelled)
    scope: str  # "machine" (counter) or "process" (model)


@dataclass(frozen=True)
class Check:
    """One gate criterion with a readable outcome."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateReport:
    """Everything the gate measured and decided. ``reasons`` lists every failed check."""

    reference: str
    candidate: str
    eval_set: str
    eval_version: str
    metric: str
    overall: MetricComparison
    slices: tuple[MetricComparison, ...]
    speed: SpeedComparison | None
    energy: EnergyComparison | None
    energy_note: str  # why energy is missing / how it was measured
    reference_size_bytes: int
    candidate_size_bytes: int
    checks: tuple[Check, ...]
    spec: dict[str, Any]
    protocol: dict[str, Any]
    created_unix_s: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f"{c.name}: {c.detail}" for c in self.checks if not c.passed)

    @property
    def worst_slice(self) -> MetricComparison | None:
        return max(self.slices, key=lambda s: s.drop, default=None)

    @property
    def size_ratio(self) -> float:
        return self.candidate_size_bytes / max(self.reference_size_bytes, 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (stored inside the model card)."""
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "verdict": self.verdict,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "checks": [asdict(c) for c in self.checks],
            "eval_set": self.eval_set,
            "eval_version": self.eval_version,
            "metric": self.metric,
            "overall": asdict(self.overall),
            "slices": [asdict(s) for s in self.slices],
            "speed": self.speed.to_dict() if self.speed else None,
            "energy": asdict(self.energy) if self.energy else None,
            "energy_note": self.energy_note,
            "reference_size_bytes": self.reference_size_bytes,
            "candidate_size_bytes": self.candidate_size_bytes,
            "size_ratio": self.size_ratio,
            "spec": self.spec,
            "protocol": self.protocol,
            "created_unix_s": self.created_unix_s,
        }
