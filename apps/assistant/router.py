"""OpenAI-compatible routes: ``POST /chat/completions`` and ``GET /models`` (under ``/v1``).

No ``/assistant`` prefix on these two on purpose: OpenAI clients expect ``/v1/chat/completions``
and ``/v1/models``. Assistant-specific reads live under ``/assistant/...``. The body is parsed
here (not by FastAPI) so invalid JSON and bad fields get OpenAI-style error objects.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from apps.api.deps import COMPUTE, ContextDep, require_scope
from apps.assistant.schemas import (
    ERROR_SCHEMA,
    AssistantStats,
    ChatCompletion,
    ChatCompletionRequest,
    ModelList,
    error_body,
    impact_object,
)
from apps.assistant.service import (
    AssistantService,
    ChatResult,
    QueueFullError,
    RequestError,
    service_for,
)
from core.errors import GreenstackError, ModelError

log = logging.getLogger(__name__)
router = APIRouter(tags=["assistant"], dependencies=[Depends(require_scope("read"))])

_CHAT_SCHEMA = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
}}}}


_OPENAI_ERROR = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid JSON, empty messages, max_tokens out of range, oversized "
                         "context (OpenAI error object)", **_OPENAI_ERROR},
    404: {"description": "Unknown model", **_OPENAI_ERROR},
    429: {"description": "Request queue full; see Retry-After", **_OPENAI_ERROR},
    503: {"description": "Model not available yet: run `greenstack run assistant`",
          **_OPENAI_ERROR},
}


def _error(status: int, message: str, type_: str, param: str | None = None,
           code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, type_, param, code), status_code=status,
                        headers=headers)


def _validation_message(e: ValidationError) -> tuple[str, str | None]:
    first = e.errors()[0]
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    return f"{param}: {first.get('msg')}" if param else str(first.get("msg")), param


async def _parse(request: Request) -> ChatCompletionRequest | JSONResponse:
    try:
        payload = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return _error(400, f"request body is not valid JSON: {e}", "invalid_request_error",
                      code="invalid_json")
    if not isinstance(payload, dict):
        return _error(400, "request body must be a JSON object", "invalid_request_error")
    try:
        return ChatCompletionRequest.model_validate(payload)
    except ValidationError as e:
        message, param = _validation_message(e)
        return _error(400, message, "invalid_request_error", param=param)


def _mapped(e: Exception) -> JSONResponse:
    if isinstance(e, QueueFullError):
        return _error(429, str(e), "rate_limit_exceeded", code="queue_full",
                      headers={"Retry-After": str(max(1, round(e.retry_after_s)))})
    if isinstance(e, RequestError):
        return _error(e.status, str(e), e.type_, e.param, e.code)
    if isinstance(e, ModelError):
        return _error(503, str(e), "server_error", code="model_unavailable")
    raise e


def completion_body(r: ChatResult) -> dict[str, Any]:
    """A ``chat.completion`` object with greenstack usage and GreenPT impact."""
    body: dict[str, Any] = {
        "id": r.id, "object": "chat.completion", "created": r.created, "model": r.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": r.text},
                     "logprobs": None, "finish_reason": r.finish_reason}],
        "usage": r.usage(), "impact": impact_object(r.wall_s, r.energy_j, r.co2e_g),
    }
    if r.citations:
        body["citations"] = list(r.citations)
    return body


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any],
           finish: str | None) -> str:
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n"


def _sse(first: str | ChatResult, rest: Iterator[str | ChatResult], include_usage: bool,
         model: str, cid: str, created: int) -> Iterator[str]:
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""}, None)
    result: ChatResult | None = None
    try:
        for part in itertools.chain([first], rest):
            if isinstance(part, ChatResult):
                result = part
            elif part:
                yield _chunk(cid, created, model, {"content": part}, None)
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()  # closing this generator (client gone) closes the service's stream too
    if result is None:
        return
    yield _chunk(cid, created, model, {}, result.finish_reason)
    if include_usage:
        final = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [], "usage": result.usage(),
                 "impact": impact_object(result.wall_s, result.energy_j, result.co2e_g)}
        if result.citations:
            final["citations"] = list(result.citations)
        yield f"data: {json.dumps(final)}\n\n"
    yield "data: [DONE]\n\n"


class _Pump:
    """Advances a blocking event iterator in worker threads and closes it exactly once.

    Starlette cancels the response task when the client disconnects; a sync iterator handed to
    StreamingResponse would then stay suspended at a ``yield`` (holding the queue slot and the
    model) until garbage collection. Here the async body closes it in ``finally``. The lock makes
    the close wait for a ``next()`` already running in a worker (at most one more token), since a
    generator cannot be closed while it executes.
    """

    _END = object()

    def __init__(self, events: Iterator[str]) -> None:
        self._events = events
        self._lock = threading.Lock()
        self._closed = False

    def next(self) -> object:
        with self._lock:
            if self._closed:
                return self._END
            return next(self._events, self._END)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                close = getattr(self._events, "close", None)
                if close is not None:
                    close()

    async def body(self) -> AsyncIterator[str]:
        import anyio

        try:
            while (item := await run_in_threadpool(self.next)) is not self._END:
                yield str(item)
        finally:
            with anyio.CancelScope(shield=True):  # the close must run even when cancelled
                await run_in_threadpool(self.close)


@router.post("/chat/completions", openapi_extra=_CHAT_SCHEMA, responses=_CHAT_RESPONSES,
             response_model=ChatCompletion,
             dependencies=[COMPUTE],
             summary="OpenAI-compatible chat completion with energy and CO2e per request")
async def chat_completions(request: Request, ctx: ContextDep) -> Any:
    parsed = await _parse(request)
    if isinstance(parsed, JSONResponse):
        return parsed
    service = service_for(ctx)
    if not parsed.stream:
        try:
            result = await run_in_threadpool(service.complete, parsed)
        except (RequestError, QueueFullError, ModelError) as e:
            return _mapped(e)
        return JSONResponse(completion_body(result))
    return await _stream_response(service, parsed)


async def _stream_response(service: AssistantService, parsed: ChatCompletionRequest) -> Any:
    import time
    import uuid

    events = service.stream(parsed)
    try:  # the first item surfaces validation, context and queue errors as 4xx, not mid-stream
        first = await run_in_threadpool(next, events)
    except (RequestError, QueueFullError, ModelError) as e:
        return _mapped(e)
    include = bool(parsed.stream_options and parsed.stream_options.include_usage)
    pump = _Pump(_sse(first, events, include, service.model_id,
                      f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())))
    return StreamingResponse(pump.body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.get("/models", summary="Models this server answers for (OpenAI-compatible)",
            response_model=ModelList)
def list_models(ctx: ContextDep) -> dict[str, Any]:
    return {"object": "list", "data": service_for(ctx).models()}


@router.get("/assistant/stats", response_model=AssistantStats,
            summary="Cumulative serving totals, cache and queue state, batch-engine utilisation")
def assistant_stats(ctx: ContextDep) -> dict[str, Any]:
    return service_for(ctx).stats()


class _UtilisationCollector:
    """Prometheus gauges of the assistant's batch engine and queue, read at scrape time."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            stats = service_for(self.ctx).stats()
        except GreenstackError:  # no model installed: the other apps' metrics still render
            return
        batching, q = stats["batching"], stats["queue"]
        recent = batching.get("recent_batch_sizes") or []
        for name, doc, value in (
            ("greenstack_assistant_busy_share", "Share of time the batch engine spent decoding "
             "since it started (0-1)", batching["busy_share"]),
            ("greenstack_assistant_batch_size_mean", "Mean sequences per decode step",
             batching.get("mean_batch_size", 0.0)),
            ("greenstack_assistant_batch_size_last", "Sequences in the latest decode step",
             recent[-1][1] if recent else 0),
            ("greenstack_assistant_batch_max_seqs", "Sequences the engine may decode together",
             batching["max_seqs"]),
            ("greenstack_assistant_requests_in_system", "Chat requests admitted and not finished",
             q["in_system"]),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], float(value))
            yield gauge
        steps = CounterMetricFamily("greenstack_assistant_batch_steps", "Decode steps run")
        steps.add_metric([], float(batching["steps"]))
        yield steps


def metrics_collector(ctx: Any) -> _UtilisationCollector:
    """The server registers this on its Prometheus registry (utilisation of the batch engine)."""
    return _UtilisationCollector(ctx)
