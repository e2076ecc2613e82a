"""Token discipline: short system prompt, default max_tokens, history trimmed to a token budget
and old turns summarised by the model itself. Every trim counts the tokens it saved."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Message = dict[str, str]
TokenCounter = Callable[[Sequence[Message]], int]  # tokens of the templated conversation
Summariser = Callable[[Sequence[Message]], str]  # old turns -> a short summary

SHORT_SYSTEM_PROMPT = "You are a concise assistant. Answer in one or two short sentences."
# What a naive deployment ships: a long, generic prompt sent with every request.
VERBOSE_SYSTEM_PROMPT = (
    "You are a friendly, knowledgeable and extremely helpful AI assistant. Always answer every "
    "question thoroughly and in full detail, explaining your reasoning step by step, giving "
    "background information, relevant examples, caveats and alternatives, so that the user "
    "fully understands the topic. Be polite, warm and encouraging. If a question is ambiguous, "
    "discuss every plausible interpretation. Format your answer clearly with paragraphs and "
    "lists where helpful, and finish with a short summary of the key points."
)


@dataclass(frozen=True)
class TokenPolicy:
    """Knobs of token discipline (all token counts are model tokens)."""

    default_max_tokens: int = 48
    system_prompt: str | None = SHORT_SYSTEM_PROMPT  # used when the client sends none
    history_budget_tokens: int = 192  # templated conversation budget before generation
    summarise: bool = True  # replace dropped turns by a model-written summary
    keep_last_messages: int = 2  # never trim the last user turn and the answer before it


@dataclass(frozen=True)
class Prepared:
    """A conversation after discipline, with what it saved."""

    messages: tuple[Message, ...]
    max_tokens: int
    prompt_tokens_before: int
    prompt_tokens_after: int
    summarised_messages: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tokens_saved(self) -> int:
        """Prompt tokens not sent to the model thanks to trimming/summarising."""
        return max(self.prompt_tokens_before - self.prompt_tokens_after, 0)


def with_system_prompt(messages: Sequence[Message], system_prompt: str | None) -> list[Message]:
    """Prepend ``system_prompt`` unless the client sent a system message of its own."""
    out = [dict(m) for m in messages]
    if system_prompt and not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": system_prompt})
    return out


def prepare(
    messages: Sequence[Message],
    max_tokens: int | None,
    policy: TokenPolicy,
    count: TokenCounter,
    summariser: Summariser | None = None,
) -> Prepared:
    """Apply the policy: system prompt, default max_tokens, then trim/summarise to the budget."""
    convo = with_system_prompt(messages, policy.system_prompt)
    before = count(convo)
    limit = max_tokens if max_tokens is not None else policy.default_max_tokens
    if before <= policy.history_budget_tokens:
        return Prepared(tuple(convo), limit, before, before)
    system = [m for m in convo if m["role"] == "system"]
    rest = [m for m in convo if m["role"] != "system"]
    split = max(len(rest) - policy.keep_last_messages, 0)
    # Walk back from the newest turns and keep each older one while the budget allows.
    while split > 0 and count([*system, *rest[split - 1 :]]) <= policy.history_budget_tokens:
        split -= 1
    dropped, keep = rest[:split], rest[split:]
    trimmed = _fit(system, dropped, keep, policy, count, summariser)
    after = count(trimmed)
    notes = (f"dropped {len(dropped)} old message(s) over {policy.history_budget_tokens} tokens",)
    summarised = len(dropped) if policy.summarise and summariser and dropped else 0
    return Prepared(tuple(trimmed), limit, before, after, summarised, notes)


def _fit(
    system: list[Message],
    dropped: list[Message],
    keep: list[Message],
    policy: TokenPolicy,
    count: TokenCounter,
    summariser: Summariser | None,
) -> list[Message]:
    if not (policy.summarise and summariser and dropped):
        return [*system, *keep]
    summary = summariser(dropped).strip()
    note = {"role": "system", "content": f"Summary of the earlier conversation: {summary}"}
    candidate = [*system, note, *keep]
    # A summary that does not fit the budget is itself dropped rather than overflowing.
    return candidate if count(candidate) <= policy.history_budget_tokens else [*system, *keep]
