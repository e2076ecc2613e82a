"""Experiment hygiene: content-keyed run reuse and successive-halving search budgets."""

from core.runs.halving import HalvingResult, Trial, successive_halving
from core.runs.key import (
    app_code_version,
    code_version,
    fingerprint_arrays,
    fingerprint_paths,
    run_key,
)
from core.runs.store import RunResult, RunStore

__all__ = [
    "HalvingResult",
    "RunResult",
    "RunStore",
    "Trial",
    "app_code_version",
    "code_version",
    "fingerprint_arrays",
    "fingerprint_paths",
    "run_key",
    "successive_halving",
]
