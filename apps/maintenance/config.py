"""Typed configuration of one maintenance pipeline run (what a run key hashes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from apps.maintenance.alarms import AlarmPolicy
from apps.maintenance.features import DEFAULT_RUL_CAP
from core.errors import ConfigError

DEFAULT_SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that changes a result. The first seed's models are the ones served."""

    subset: str = "FD001"
    rul_cap: float = DEFAULT_RUL_CAP  # cycles
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    holdout_fraction: float = 0.2  # of training engines: calibration, alarms, savings
    max_train_units: int | None = None  # tests train on fewer engines
    reference_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"max_iter": 60}
    compact_epochs: int = 60
    bench_repeats: int = 10
    interval_alpha: float = 0.1  # 90 % prediction intervals
    alarm: AlarmPolicy = field(default_factory=AlarmPolicy)
    horizon_cycles: float = 30.0  # alarms are judged against "fails within 30 cycles"
    ai4i: bool = True
    # BLAS/OpenMP/torch threads while the pipeline runs. 1 by default: on a shared 2-core host,
    # OpenMP workers of gradient boosting spin-wait for busy cores and multiply CPU time.
    threads: int = 1

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ConfigError("at least one seed is needed")
        if self.rul_cap <= 0:
            raise ConfigError("rul_cap must be > 0 cycles")
        if self.threads < 1:
            raise ConfigError("threads must be >= 1")
        if self.max_train_units is not None and self.max_train_units < 10:
            raise ConfigError("max_train_units must be >= 10 engines")

    def key_dict(self) -> dict[str, Any]:
        """JSON-able dict for run keys and the model card."""
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        return out

    @property
    def served_seed(self) -> int:
        """The seed whose models are served (the first)."""
        return self.seeds[0]
