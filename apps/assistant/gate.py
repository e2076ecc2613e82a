"""Quality gate for the assistant's quantised variants, built on core.gates.

Three measurements per candidate, each against the dequantised reference:
- perplexity on the shipped public-domain texts (``evaluate_gate``, allowed +3 % relative);
- graded-prompt accuracy overall and on every slice (``select_cheapest_passing``, allowed drop
  5 points overall and per slice), with greedy-answer agreement reported;
- speed and energy per token on fixed-length generations (``benchmark_pair``, interleaved).
Candidates are tried cheapest first by measured J/token; the first that passes is served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.assistant.evalset import AssistantEvalSet
from apps.assistant.grader import grade
from apps.assistant.runtime import LlamaRuntime
from apps.assistant.tokens import SHORT_SYSTEM_PROMPT
from apps.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateConfig:
    """Budgets of the gate (tokens, repeats) and its thresholds."""

    answer_max_tokens: int = 24
    ppl_window_tokens: int = 256
    max_ppl_increase_rel: float = 0.03
    max_accuracy_drop_pts: float = 5.0
    bench_prompts: int = 1
    bench_tokens: int = 16
    bench_warmup: int = 1
    bench_repeats: int = 3
    n_ctx: int = 1024
    threads: int = 1


def accuracy_pct(targets: Any, passed: Any) -> float:
    """Share of prompts graded as passed, in percent (targets are all 1 = pass)."""
    return float(100.0 * np.mean(np.asarray(passed) == np.asarray(targets)))


def perplexity_from_nll(token_counts: Any, nll_sums: Any) -> float:
    """exp(total NLL / total predicted tokens) over all windows."""
    return float(np.exp(np.sum(nll_sums) / max(float(np.sum(token_counts)), 1.0)))


class _Answers:
    """Greedy answers of one model on the eval prompts, computed once and graded per batch."""

    def __init__(self, runtime: LlamaRuntime, eval_set: AssistantEvalSet, cfg: GateConfig,
                 progress: Progress | None) -> None:
        self.runtime, self.eval_set, self.cfg, self.progress = runtime, eval_set, cfg, progress
        self.texts: dict[int, str] = {}

    def text(self, i: int) -> str:
        if i not in self.texts:
            prompt = self.eval_set.prompts[i]
            messages = [{"role": "system", "content": SHORT_SYSTEM_PROMPT},
                        {"role": "user", "content": prompt.prompt}]
            self.texts[i] = self.runtime.chat(messages, max_tokens=self.cfg.answer_max_tokens).text
            if self.progress:
                self.progress(f"answers {self.runtime.name}", len(self.texts),
                              len(self.eval_set.prompts))
        return self.texts[i]

    def forget_first(self) -> None:
        """Drop the memoised answer to prompt 0 (a cold pass for the gate's latency check)."""
        self.texts.pop(0, None)

    def predict(self, inputs: Any) -> np.ndarray:
        """1.0/0.0 grade per input ``"<data version>:<prompt index>"``."""
        prompts = self.eval_set.prompts
        indices = [int(str(x).rsplit(":", 1)[1]) for x in inputs]
        return np.array([float(grade(self.text(i), prompts[i].check)) for i in indices])


def _windows(runtime: LlamaRuntime, text: str, size: int) -> list[list[int]]:
    ids = runtime.tokenize(text)
    return [ids[i : i + size] for i in range(0, len(ids), size) if len(ids[i : i + size]) > 1]


def _nll_predict(runtime: LlamaRuntime, windows: list[list[int]]) -> Callable[[Any], np.ndarray]:
    def predict(indices: Any) -> np.ndarray:
        return np.array([runtime.window_nll(windows[int(i)]) for i in indices])

    return predict


def _bench_predict(runtime: LlamaRuntime, eval_set: AssistantEvalSet,
                   cfg: GateConfig) -> Callable[[Any], np.ndarray]:
    def predict(indices: Any) -> np.ndarray:
        out = []
        for i in indices:
            msgs = [{"role": "user", "content": eval_set.prompts[int(i)].prompt}]
            gen = runtime.chat(msgs, max_tokens=cfg.bench_tokens, ignore_eos=True)
            out.append(gen.completion_tokens)
        return np.array(out)

    return predict


@dataclass(frozen=True)
class CandidateOutcome:
    """Everything the gate measured for one candidate (None: not measured, see ``notes``)."""

    name: str
    size_bytes: int
    perplexity: float
    perplexity_increase_rel: float
    perplexity_passed: bool
    tok_per_s: float | None  # None: speed not measured (candidate failed perplexity)
    speedup: float | None
    speedup_iqr: tuple[float, float] | None
    j_per_token: float | None
    energy_method: str | None
    accuracy_pct: float | None = None
    accuracy_passed: bool | None = None
    greedy_agreement: float | None = None
    worst_slice: str | None = None
    passed: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = dict(self.__dict__)
        out["speedup_iqr"] = list(self.speedup_iqr) if self.speedup_iqr else None
        out["notes"] = list(self.notes)
        return out
