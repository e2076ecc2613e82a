"""What ``greenstack run assistant`` produces: per-side totals on the held-back part and the run
summary (the bottom of the app: no imports of its own modules but the gate outcome type)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.assistant.gate_run import GateOutcome


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


@dataclass(frozen=True)
class AssistantRunSummary:
    """What ``greenstack run assistant`` produced."""

    gate: GateOutcome
    naive: ReplayStats  # naive configuration on the held-back part of the serving set
    efficient: ReplayStats  # the served configuration on the same part
    search: dict[str, Any]  # the configuration search (every configuration tried)
    card_path: str
    gate_reused: bool
    replay_reused: bool  # the search step (which holds the held-back replay) was reused

    @property
    def energy_saving_rel(self) -> float:
        """1 − served J ÷ naive J over the held-back part."""
        return 1.0 - self.efficient.energy_j / max(self.naive.energy_j, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the search's headline fields sit at the top level."""
        s = self.search
        return {"served_config": s["served_config"], "served_label": s["served_label"],
                "served_is_naive": s["served_is_naive"], "served_reason": s["served_reason"],
                "quality_naive_pct": s["quality_naive_pct"],
                "quality_served_pct": s["quality_served_pct"],
                "quality_by_category": s["quality_by_category"],
                "j_per_request_naive": s["j_per_request_naive"],
                "j_per_request_served": s["j_per_request_served"],
                "gate": self.gate.to_dict(), "naive": self.naive.to_dict(),
                "efficient": self.efficient.to_dict(), "search": s, "card_path": self.card_path,
                "gate_reused": self.gate_reused, "replay_reused": self.replay_reused,
                "energy_saving_rel": self.energy_saving_rel}
