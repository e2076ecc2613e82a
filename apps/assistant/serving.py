"""Request-level types and errors of the assistant service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.assistant.tokens import VERBOSE_SYSTEM_PROMPT, TokenPolicy
from core.errors import DataError


class RequestError(DataError):
    """A client error with the HTTP status, OpenAI error type/code and offending parameter."""

    status = 400
    type_ = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param, self.code = param, code


class UnknownModelError(RequestError):
    """The requested model id is not served here."""

    status = 404


class ContextTooLongError(RequestError):
    """Prompt plus max_tokens do not fit the context window."""


@dataclass(frozen=True)
class ServeConfig:
    """How the assistant serves: token policy, caches, queue, grounding, runtime sizes."""

    policy: TokenPolicy = field(default_factory=TokenPolicy)
    exact_cache: bool = True
    semantic_cache: bool = True
    semantic_threshold: float | None = None  # None: tuned on the shipped pair set at start
    grounding: bool = True
    queue_capacity: int = 8
    batch_max_seqs: int = 8  # requests decoded together (continuous batching); 1 = one at a time
    n_ctx: int = 2048
    threads: int = 1
    record_requests: bool = True  # book serving footprints (phase serve, summed per minute)
    default_temperature: float = 0.0  # greedy unless the client asks otherwise


NAIVE_POLICY = TokenPolicy(default_max_tokens=256, system_prompt=VERBOSE_SYSTEM_PROMPT,
                           history_budget_tokens=10**9, summarise=False)
NAIVE = ServeConfig(policy=NAIVE_POLICY, exact_cache=False, semantic_cache=False,
                    grounding=False)


@dataclass(frozen=True)
class ChatResult:
    """One answered request with its measured cost."""

    id: str
    created: int
    model: str
    text: str
    finish_reason: str  # "stop" | "length" | "cancelled" (client went away; never sent)
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    energy_j: float
    co2e_g: float
    method: str  # energy method: counter | power_sampled | modelled | user_forced
    cache: str  # "hit" | "miss"
    cache_kind: str | None = None  # "exact" | "semantic" on a hit
    similarity: float | None = None
    energy_avoided_j: float = 0.0  # a hit: energy of the original generation
    co2e_avoided_g: float = 0.0
    tokens_saved: int = 0  # prompt tokens removed by trimming / summarising
    citations: tuple[str, ...] = ()
    intensity_g_per_kwh: float = 0.0
    intensity_source: str = ""
    ledger_record_id: str | None = None

    @property
    def j_per_token(self) -> float | None:
        """Energy per completion token (J), None without tokens."""
        return self.energy_j / self.completion_tokens if self.completion_tokens else None

    def usage(self) -> dict[str, Any]:
        """OpenAI ``usage`` plus greenstack's energy fields."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "energy_j": self.energy_j,
            "co2e_g": self.co2e_g,
            "method": self.method,
            "cache": self.cache,
            "cache_kind": self.cache_kind,
            "energy_avoided_j": self.energy_avoided_j,
            "co2e_avoided_g": self.co2e_avoided_g,
            "tokens_saved": self.tokens_saved,
            "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "intensity_source": self.intensity_source,
        }


@dataclass
class ServingTotals:
    """Cumulative counters since the service started."""

    requests: int = 0
    cancelled: int = 0  # streams whose client disconnected before the end
    cache_hits: int = 0
    semantic_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_saved: int = 0
    energy_j: float = 0.0
    energy_avoided_j: float = 0.0
    co2e_g: float = 0.0
    co2e_avoided_g: float = 0.0

    def add(self, r: ChatResult) -> None:
        """Count one result."""
        self.requests += 1
        self.cancelled += r.finish_reason == "cancelled"
        self.cache_hits += r.cache == "hit"
        self.semantic_hits += r.cache_kind == "semantic"
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.tokens_saved += r.tokens_saved
        self.energy_j += r.energy_j
        self.energy_avoided_j += r.energy_avoided_j
        self.co2e_g += r.co2e_g
        self.co2e_avoided_g += r.co2e_avoided_g

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)
