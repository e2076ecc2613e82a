"""Replay a fixed conversation workload through two service configurations and compare them.

The workload (``data/assistant/workload.jsonl``) mixes unique questions, exact repeats (case,
spacing, punctuation differ), paraphrases and multi-turn chats; each conversation keeps its own
history of the answers the configuration under test gave. Final turns with a check are graded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.assistant.grader import grade
from apps.assistant.schemas import ChatCompletionRequest, ChatMessage
from core.errors import DataError

if TYPE_CHECKING:
    from apps.assistant.service import AssistantService


@dataclass(frozen=True)
class Conversation:
    """User turns of one conversation, with an optional check on the last answer."""

    id: str
    kind: str
    turns: tuple[str, ...]
    check: dict[str, Any] | None


def load_workload(data_dir: Path) -> tuple[Conversation, ...]:
    """The shipped replay workload."""
    path = Path(data_dir) / "assistant" / "workload.jsonl"
    if not path.is_file():
        raise DataError(f"{path} is missing; restore data/assistant from git")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return tuple(Conversation(r["id"], r["kind"], tuple(r["turns"]), r.get("check"))
                 for r in rows)


@dataclass(frozen=True)
class ReplayStats:
    """Totals of one configuration over the workload (energy in J, latency in s)."""

    label: str
    model: str
    conversations: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    tokens_saved: int
    energy_j: float
    co2e_kg: float
    p50_latency_s: float
    p95_latency_s: float
    cache_hit_rate: float
    quality: float  # share of graded final answers that pass
    graded: int
    method: str
    hit_p95_latency_s: float | None = None  # cache hits only (None: no hits)

    @property
    def tokens(self) -> int:
        """Tokens processed by the model (prompt + completion)."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def j_per_request(self) -> float:
        """Mean energy per request (J)."""
        return self.energy_j / max(self.requests, 1)

    @property
    def j_per_token(self) -> float:
        """Energy per processed token (J): prompt and completion tokens both cost compute."""
        return self.energy_j / max(self.tokens, 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with derived fields."""
        return {**self.__dict__, "tokens": self.tokens, "j_per_request": self.j_per_request,
                "j_per_token": self.j_per_token}


def replay(service: AssistantService, workload: tuple[Conversation, ...], label: str,
           progress: Callable[[str, int, int], None] | None = None) -> ReplayStats:
    """Send every conversation turn by turn; returns the totals."""
    results, passed = [], []
    for done, conv in enumerate(workload, start=1):
        history: list[ChatMessage] = []
        answer = ""
        for turn in conv.turns:
            history.append(ChatMessage(role="user", content=turn))
            request = ChatCompletionRequest(model=service.model_id, messages=list(history))
            result = service.complete(request)
            results.append(result)
            answer = result.text
            history.append(ChatMessage(role="assistant", content=answer))
        if conv.check is not None:
            passed.append(grade(answer, conv.check))
        if progress:
            progress(f"replay {label}", done, len(workload))
    return _stats(label, service, workload, results, passed)


def _stats(label: str, service: AssistantService, workload: tuple[Conversation, ...],
           results: list[Any], passed: list[bool]) -> ReplayStats:
    latencies = np.array([r.wall_s for r in results])
    energy_j = float(sum(r.energy_j for r in results))
    co2e_g = float(sum(r.co2e_g for r in results))
    methods = sorted({r.method for r in results})
    hits = [r.wall_s for r in results if r.cache == "hit"]
    return ReplayStats(
        label=label, model=service.runtime.name, conversations=len(workload),
        requests=len(results), prompt_tokens=sum(r.prompt_tokens for r in results),
        completion_tokens=sum(r.completion_tokens for r in results),
        tokens_saved=sum(r.tokens_saved for r in results), energy_j=energy_j,
        co2e_kg=co2e_g / 1000.0, p50_latency_s=float(np.percentile(latencies, 50)),
        p95_latency_s=float(np.percentile(latencies, 95)),
        cache_hit_rate=sum(r.cache == "hit" for r in results) / max(len(results), 1),
        quality=float(np.mean(passed)) if passed else float("nan"), graded=len(passed),
        method="+".join(methods),
        hit_p95_latency_s=float(np.percentile(hits, 95)) if hits else None,
    )
