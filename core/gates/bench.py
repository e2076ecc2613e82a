"""Like-for-like latency/energy benchmark of two predictors, interleaved A B A B.

Both sides get the same inputs, batch size, thread count, warm-up (excluded) and number of timed
passes; cache state is cleared before every pass or stated. Runs measured under different
conditions are refused, never compared (:func:`check_like_for_like`).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.errors import ConfigError, GateError
from core.runs.key import fingerprint_arrays

if TYPE_CHECKING:
    from core.energy import Meter

CacheMode = Literal["cold", "warm"]


@dataclass(frozen=True)
class Candidate:
    """A model as the gate sees it: a batch predictor plus its checkpoint size.

    ``batch_size``/``threads``: set only if the model is served that way (a model fixed to batch
    64); the harness then refuses a comparison with a reference run differently. ``has_cache``:
    the predictor memoises results; ``clear_cache()`` lets the harness run it cold. ``cost``
    orders candidates in :func:`select_cheapest_passing` (default: size_bytes).
    """

    name: str
    predict: Callable[[Any], Any]
    size_bytes: int
    batch_size: int | None = None
    threads: int | None = None
    has_cache: bool = False
    clear_cache: Callable[[], None] | None = None
    cost: float | None = None


@dataclass(frozen=True)
class BenchmarkConfig:
    """Protocol: ``repeats`` timed passes over ``max_units`` inputs after ``warmup`` passes.

    ``cache``: ``"cold"`` clears caches before every pass (a cache that cannot be cleared makes
    that side ``"warm"``, which is refused against a cold side); ``"warm"`` states warm caches
    for both. ``eval_batch_size`` is used for the quality metrics only.
    """

    batch_size: int = 1
    threads: int = 1
    warmup: int = 3
    repeats: int = 20
    max_units: int | None = 256
    cache: CacheMode = "cold"
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if min(self.batch_size, self.threads, self.repeats, self.eval_batch_size) < 1:
            raise ConfigError("batch_size, threads, repeats and eval_batch_size must be >= 1")
        if self.warmup < 0:
            raise ConfigError("warmup must be >= 0")
        if self.repeats < 3:
            raise ConfigError("repeats must be >= 3 to give a median and a spread")


@dataclass(frozen=True)
class BenchmarkRun:
    """Timed passes of one predictor and the conditions they ran under."""

    candidate: str
    batch_size: int
    threads: int
    inputs_hash: str
    units_per_pass: int
    cache_state: str  # "cold" (no cache or cleared before each pass) | "warm"
    warmup: int
    pass_s: tuple[float, ...]
    energy_j: float | None = None  # summed over timed passes
    energy_method: str | None = None
    energy_scope: str | None = None

    @property
    def median_s_per_unit(self) -> float:
        return statistics.median(self.pass_s) / self.units_per_pass

    @property
    def iqr_s_per_unit(self) -> float:
        q25, q75 = np.percentile(self.pass_s, [25, 75])
        return float(q75 - q25) / self.units_per_pass

    @property
    def j_per_unit(self) -> float | None:
        if self.energy_j is None:
            return None
        return self.energy_j / (self.units_per_pass * len(self.pass_s))

    def conditions(self) -> dict[str, Any]:
        keys = ("batch_size", "threads", "inputs_hash", "cache_state", "warmup")
        return {k: getattr(self, k) for k in keys} | {"repeats": len(self.pass_s)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"median_s_per_unit": self.median_s_per_unit,
                               "iqr_s_per_unit": self.iqr_s_per_unit,
                               "j_per_unit": self.j_per_unit}


@dataclass(frozen=True)
class SpeedComparison:
    """Speedup = reference s/unit ÷ candidate s/unit over paired interleaved passes."""

    speedup: float  # median of paired ratios
    speedup_p25: float
    speedup_p75: float
    reference: BenchmarkRun
    candidate: BenchmarkRun

    def to_dict(self) -> dict[str, Any]:
        return {"speedup": self.speedup, "speedup_p25": self.speedup_p25,
                "speedup_p75": self.speedup_p75, "reference": self.reference.to_dict(),
                "candidate": self.candidate.to_dict()}


def check_like_for_like(reference: dict[str, Any], candidate: dict[str, Any]) -> None:
    """Raise GateError naming every condition that differs between two runs' conditions."""
    diffs = [f"{k}: {reference.get(k)!r} vs {candidate.get(k)!r}"
             for k in sorted(set(reference) | set(candidate)) if reference.get(k) != candidate.get(k)]
    if diffs:
        raise GateError("refusing to compare runs measured under different conditions ("
                        + "; ".join(diffs) + "); rerun both with one BenchmarkConfig")


def compare_runs(reference: BenchmarkRun, candidate: BenchmarkRun) -> SpeedComparison:
    """Speedup with spread; refuses runs whose conditions differ."""
    check_like_for_like(reference.conditions(), candidate.conditions())
    ratios = [r / c if c > 0 else float("inf") for r, c in zip(reference.pass_s, candidate.pass_s,
                                                                 strict=True)]
    p25, p50, p75 = np.percentile(ratios, [25, 50, 75])
    return SpeedComparison(float(p50), float(p25), float(p75), reference, candidate)


def _cache_state(c: Candidate, mode: CacheMode) -> str:
    if not c.has_cache:
        return "cold"
    return "cold" if mode == "cold" and c.clear_cache is not None else "warm"


def _plan(c: Candidate, config: BenchmarkConfig, inputs_hash: str, units: int) -> dict[str, Any]:
    return {"batch_size": c.batch_size or config.batch_size, "threads": c.threads or config.threads,
            "inputs_hash": inputs_hash, "cache_state": _cache_state(c, config.cache),
            "warmup": config.warmup, "repeats": config.repeats, "units": units}


@contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Pin torch intra-op threads (if torch is loaded) and BLAS/OpenMP pools to ``threads``."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def _one_pass(c: Candidate, batches: list[Any], plan: dict[str, Any], meter: Meter | None,
              energy: list[Any]) -> float:
    if plan["cache_state"] == "cold" and c.has_cache and c.clear_cache is not None:
        c.clear_cache()
    if meter is None:
        t0 = time.perf_counter()
        for b in batches:
            c.predict(b)
        return time.perf_counter() - t0
    with meter.window(f"gate:{c.name}", unit="unit") as w:
        t0 = time.perf_counter()
        for b in batches:
            c.predict(b)
        elapsed = time.perf_counter() - t0
        w.count += plan["units"]
    energy.append(w.measurement)
    return elapsed


def _run(c: Candidate, plan: dict[str, Any], passes: list[float], ms: list[Any]) -> BenchmarkRun:
    energy_j = sum(m.energy_j for m in ms) if ms else None
    return BenchmarkRun(
        candidate=c.name, batch_size=plan["batch_size"], threads=plan["threads"],
        inputs_hash=plan["inputs_hash"], units_per_pass=plan["units"],
        cache_state=plan["cache_state"], warmup=plan["warmup"], pass_s=tuple(passes),
        energy_j=energy_j, energy_method=ms[0].method if ms else None,
        energy_scope=ms[0].scope if ms else None,
    )


def benchmark_pair(reference: Candidate, candidate: Candidate, inputs: Any,
                   config: BenchmarkConfig, meter: Meter | None = None) -> SpeedComparison:
    """Warm up both, then time ``config.repeats`` interleaved passes (ref, cand, ref, cand …)."""
    units = len(inputs) if config.max_units is None else min(len(inputs), config.max_units)
    subset = inputs[:units]
    inputs_hash = fingerprint_arrays(subset)
    plans = [_plan(c, config, inputs_hash, units) for c in (reference, candidate)]
    check_like_for_like(plans[0], plans[1])
    bs = plans[0]["batch_size"]
    batches = [subset[i : i + bs] for i in range(0, units, bs)]
    pairs = ((reference, plans[0]), (candidate, plans[1]))
    passes: tuple[list[float], list[float]] = ([], [])
    energies: tuple[list[Any], list[Any]] = ([], [])
    with thread_limit(plans[0]["threads"]):
        for _ in range(config.warmup):
            for c, plan in pairs:
                _one_pass(c, batches, plan, None, [])
        for _ in range(config.repeats):
            for side, (c, plan) in enumerate(pairs):
                passes[side].append(_one_pass(c, batches, plan, meter, energies[side]))
    runs = [_run(c, plan, passes[i], energies[i]) for i, (c, plan) in enumerate(pairs)]
    return compare_runs(runs[0], runs[1])
