"""The one result type every compression step returns, and how its size is measured."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.energy import Measurement


@dataclass(frozen=True)
class CompressionResult:
    """A compressed model plus what was done to it.

    ``size_bytes_*`` are serialised sizes (torch ``state_dict`` via ``torch.save``; pickle for
    classic models), i.e. what a checkpoint on disk weighs. ``report`` says which modules were
    quantised / which tensors shrank / how training went, JSON-ready. ``measurement`` is set when
    the step ran inside a meter window (:func:`core.compress.run_compression`).
    """

    model: Any
    kind: str  # "dynamic_int8" | "static_int8" | "float16" | "bfloat16" | "pruned" | "distilled" | …
    size_bytes_before: int
    size_bytes_after: int
    report: dict[str, Any] = field(default_factory=dict)
    measurement: Measurement | None = None

    @property
    def size_ratio(self) -> float:
        """after / before (0.25 means four times smaller)."""
        return self.size_bytes_after / self.size_bytes_before if self.size_bytes_before else 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the model itself is left out)."""
        return {
            "kind": self.kind,
            "size_bytes_before": self.size_bytes_before,
            "size_bytes_after": self.size_bytes_after,
            "size_ratio": self.size_ratio,
            "report": self.report,
            "measurement": self.measurement.to_dict() if self.measurement else None,
        }


def model_size_bytes(model: Any) -> int:
    """Serialised size in bytes: ``torch.save(state_dict)`` for torch modules, pickle otherwise."""
    buf = io.BytesIO()
    if hasattr(model, "state_dict") and hasattr(model, "parameters"):
        import torch

        torch.save(model.state_dict(), buf)
    else:
        pickle.dump(model, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getbuffer().nbytes


def count_parameters(model: Any) -> int:
    """Number of scalar parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters()))
