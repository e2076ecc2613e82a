"""OpenAI-compatible request/response shapes for ``/v1/chat/completions`` and ``/v1/models``.

Responses add greenstack fields where OpenAI clients ignore unknown keys: ``usage`` carries
``energy_j``, ``co2e_g``, ``method`` and ``cache``; ``impact`` is GreenPT's per-response object.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

IMPACT_VERSION = "20250922"  # GreenPT impact object version this shape follows
MAX_COMPLETION_TOKENS = 1024
# Turns per request: far more than fits the served model's context even after trimming; a longer
# conversation is a client error (400 saying so), not work for the summariser.
MAX_MESSAGES = 256


class TextPart(BaseModel):
    """One part of multi-part message content (only text is served by this model)."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """A chat turn; content may be a string or a list of text parts."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        """Content as plain text."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)

    def as_dict(self) -> dict[str, str]:
        """``{"role", "content"}`` with ``developer`` mapped to ``system`` for the template."""
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": self.text()}


class StreamOptions(BaseModel):
    """OpenAI ``stream_options``."""

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat request this server honours; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_COMPLETION_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_COMPLETION_TOKENS)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("messages")
    @classmethod
    def _has_user_turn(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not any(m.role == "user" and m.text().strip() for m in messages):
            raise ValueError("messages must contain at least one non-empty user message")
        return messages

    def limit(self) -> int | None:
        """Requested completion cap (``max_completion_tokens`` wins, as in OpenAI's API)."""
        return self.max_completion_tokens or self.max_tokens

    def stops(self) -> list[str]:
        """Stop sequences as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ModelEntry(BaseModel):
    """One ``/v1/models`` entry (OpenAI shape)."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "greenstack"


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelEntry]


class ChatCompletion(BaseModel):
    """A ``chat.completion`` with greenstack usage (energy, CO2e, method, cache) and GreenPT
    ``impact``; streams send ``chat.completion.chunk`` events instead (text/event-stream)."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any]
    impact: dict[str, Any]
    citations: list[str] | None = None


class AssistantStats(BaseModel):
    """``GET /v1/assistant/stats``: cumulative totals, queue, batch-engine utilisation."""

    totals: dict[str, float]
    queue: dict[str, float]
    batching: dict[str, Any]
    exact_cache_entries: int
    model: str
    served_reason: str
    session_id: str


def impact_object(wall_s: float, energy_j: float, co2e_g: float) -> dict[str, Any]:
    """GreenPT ``impact``: time in ms, energy in Wms (= mJ), emissions in µgCO2e."""
    return {
        "version": IMPACT_VERSION,
        "inferenceTime": {"total": round(wall_s * 1000.0), "unit": "ms"},
        "energy": {"total": round(energy_j * 1000.0), "unit": "Wms"},
        "emissions": {"total": round(co2e_g * 1e6), "unit": "ugCO2e"},
    }


def error_body(message: str, type_: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI-style error object; ``detail`` repeats the message in the suite's error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code},
            "detail": message}


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "object", "required": ["message", "type"], "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}},
        "detail": {"type": "string"},
    },
}
