"""What a compressed candidate must show to replace its reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError


@dataclass(frozen=True)
class GateSpec:
    """Gate thresholds. Drops are in metric units, positive = worse (direction-aware).

    ``max_drop``: allowed worsening of the overall metric. ``max_slice_drop``: allowed worsening
    on every slice (None: slices reported, not gated). ``min_speedup``: reference time per unit /
    candidate time per unit; the lower quartile of interleaved paired repeats must reach it. ``min_energy_reduction``:
    1 − candidate J/unit ÷ reference J/unit (needs a meter). ``max_size_ratio``: candidate size ÷
    reference size. ``max_size_bytes``: absolute cap. Any None threshold is not checked.
    """

    metric: str
    metric_fn: Callable[[Any, Any], float]
    higher_is_better: bool
    max_drop: float
    max_slice_drop: float | None = None
    min_speedup: float | None = None
    min_energy_reduction: float | None = None
    max_size_ratio: float | None = None
    max_size_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_drop < 0 or (self.max_slice_drop is not None and self.max_slice_drop < 0):
            raise ConfigError("max_drop / max_slice_drop are allowed worsenings and must be >= 0")
        if self.min_speedup is not None and self.min_speedup <= 0:
            raise ConfigError(f"min_speedup must be > 0, got {self.min_speedup}")
        if self.max_size_ratio is not None and self.max_size_ratio <= 0:
            raise ConfigError(f"max_size_ratio must be > 0, got {self.max_size_ratio}")
        if self.min_energy_reduction is not None and not self.min_energy_reduction < 1:
            raise ConfigError("min_energy_reduction is a fraction below 1 (0.3 = 30 % less J/unit)")

    def drop(self, reference: float, candidate: float) -> float:
        """How much worse the candidate is (metric units; negative = better)."""
        return reference - candidate if self.higher_is_better else candidate - reference

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``metric_fn`` by qualified name)."""
        fn = self.metric_fn
        return {
            "metric": self.metric,
            "metric_fn": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}",
            "higher_is_better": self.higher_is_better,
            "max_drop": self.max_drop,
            "max_slice_drop": self.max_slice_drop,
            "min_speedup": self.min_speedup,
            "min_energy_reduction": self.min_energy_reduction,
            "max_size_ratio": self.max_size_ratio,
            "max_size_bytes": self.max_size_bytes,
        }
