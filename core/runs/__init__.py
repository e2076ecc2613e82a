"""Experiment hygiene: content-keyed run reuse and successive-halving search budgets."""

from core.runs.halving import HalvingResult, Trial, successive_halving
from core.runs.key import fingerprint_arrays, fingerprint_paths, run_key, source_hash
from core.runs.store import RunResult, RunStore

__all__ = [
    "HalvingResult",
    "RunResult",
    "RunStore",
    "Trial",
    "fingerprint_arrays",
    "fingerprint_paths",
    "run_key",
    "source_hash",
    "successive_halving",
]
