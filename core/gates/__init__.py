"""Quality gates: a compressed model serves only if it holds quality on every slice and is
measurably faster / cheaper under a like-for-like benchmark."""

from core.gates.bench import (
    BenchmarkConfig,
    BenchmarkRun,
    Candidate,
    SpeedComparison,
    benchmark_pair,
    check_like_for_like,
    compare_runs,
)
from core.gates.card import (
    ModelCard,
    ModelRef,
    ServedChoice,
    load_served_choice,
    served_choice_of,
)
from core.gates.evalset import EvalSet, EvalSetError
from core.gates.gate import evaluate_gate, predict_all
from core.gates.health import ModelHealth, model_health
from core.gates.predictors import torch_predictor
from core.gates.report import Check, EnergyComparison, GateReport, MetricComparison
from core.gates.search import SearchResult, TriedCandidate, select_cheapest_passing
from core.gates.spec import GateSpec

__all__ = [
    "BenchmarkConfig",
    "BenchmarkRun",
    "Candidate",
    "Check",
    "EnergyComparison",
    "EvalSet",
    "EvalSetError",
    "GateReport",
    "GateSpec",
    "MetricComparison",
    "ModelCard",
    "ModelHealth",
    "ModelRef",
    "SearchResult",
    "ServedChoice",
    "SpeedComparison",
    "TriedCandidate",
    "benchmark_pair",
    "check_like_for_like",
    "compare_runs",
    "evaluate_gate",
    "load_served_choice",
    "model_health",
    "predict_all",
    "select_cheapest_passing",
    "served_choice_of",
    "torch_predictor",
]
