"""Accuracy-aware search: try candidates cheapest first, keep the first that passes its gate.

Same idea as Intel Neural Compressor's tuning loop (try a configuration, evaluate it against the
accuracy criterion, stop at the first that meets it), with the whole gate as the criterion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, GateError
from core.gates.bench import BenchmarkConfig, Candidate
from core.gates.evalset import EvalSet
from core.gates.gate import evaluate_gate
from core.gates.report import GateReport
from core.gates.spec import GateSpec

if TYPE_CHECKING:
    from core.energy import Meter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriedCandidate:
    """One candidate the search evaluated: its report, or why the gate refused it."""

    name: str
    cost: float
    report: GateReport | None
    error: str | None

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cost": self.cost, "passed": self.passed, "error": self.error,
                "report": self.report.to_dict() if self.report else None}


@dataclass(frozen=True)
class SearchResult:
    """The chosen candidate (None: serve the reference) and every candidate tried, in order."""

    chosen: Candidate | None
    report: GateReport | None
    tried: tuple[TriedCandidate, ...]
    untried: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen.name if self.chosen else None,
                "tried": [t.to_dict() for t in self.tried], "untried": list(self.untried)}


def _default_cost(c: Candidate) -> float:
    return c.cost if c.cost is not None else float(c.size_bytes)


def select_cheapest_passing(
    reference: Candidate,
    candidates: Sequence[Candidate],
    eval_set: EvalSet,
    spec: GateSpec,
    bench: BenchmarkConfig | None = None,
    meter: Meter | None = None,
    cost: Callable[[Candidate], float] = _default_cost,
    measure_speed: bool = True,
) -> SearchResult:
    """Evaluate candidates in ascending ``cost`` and return the first that passes.

    A candidate the gate refuses (GateError: unfair benchmark, wrong outputs) is recorded with
    its error and the search goes on. ``untried`` lists candidates after the chosen one.
    ``measure_speed=False`` skips each gate's benchmark, as in :func:`evaluate_gate` (a spec with
    a speedup or energy threshold still measures): for callers that time candidates on another
    workload than the eval set, e.g. generation instead of scoring.
    """
    if not candidates:
        raise ConfigError("select_cheapest_passing needs at least one candidate")
    ordered = sorted(candidates, key=cost)
    tried: list[TriedCandidate] = []
    for i, cand in enumerate(ordered):
        try:
            report = evaluate_gate(reference, cand, eval_set, spec, bench=bench, meter=meter,
                                   measure_speed=measure_speed)
        except GateError as e:
            logger.warning("gate refused %s: %s", cand.name, e)
            tried.append(TriedCandidate(cand.name, cost(cand), None, str(e)))
            continue
        tried.append(TriedCandidate(cand.name, cost(cand), report, None))
        if report.passed:
            return SearchResult(cand, report, tuple(tried), tuple(c.name for c in ordered[i + 1 :]))
    return SearchResult(None, None, tuple(tried), ())
