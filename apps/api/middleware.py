"""Pure-ASGI middleware for the API server: body size limit, JSON body guard, time-to-first-byte
limit, metrics.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses (chat completions) pass through
untouched and a limit can answer before the app reads a byte.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.api.metrics import ServerMetrics

logger = logging.getLogger(__name__)


async def send_json_error(send: Send, status: int, detail: str, code: str | None = None) -> None:
    """Send a complete JSON error response ``{"detail": ...}`` (FastAPI's error shape).

    With a ``code`` the body also carries OpenAI's ``{"error": {...}}`` object, so the
    OpenAI-compatible routes' clients read the same message.
    """
    payload: dict[str, Any] = {"detail": detail}
    if code is not None:
        payload["error"] = {"message": detail, "type": "invalid_request_error", "param": None,
                            "code": code}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(HTTPException):
    """Raised inside receive() when a chunked body passes the limit.

    An HTTPException so FastAPI's body parser re-raises it as 413 instead of wrapping it in 400.
    """


class BodySizeLimitMiddleware:
    """413 with a JSON error when a request body exceeds ``max_body_bytes``.

    Checks Content-Length first (no byte is read), then counts streamed chunks for chunked bodies.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _message(self) -> str:
        return (
            f"request body exceeds the server limit of {self.max_body_bytes} bytes; send a smaller "
            "body or raise GREENSTACK_MAX_BODY_BYTES"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await send_json_error(send, 413, self._message())
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(413, self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await send_json_error(send, 413, self._message())


MAX_JSON_DEPTH = 64  # deepest nesting of arrays/objects a JSON body may have
_INT64_LIMIT = 2**63  # JSON integers must fit a signed 64-bit integer
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _UnsafeJson(ValueError):
    """A JSON value this API refuses (its message says what to send instead)."""


def _reject_constant(name: str) -> Any:
    raise _UnsafeJson(f"{name} is not a JSON number (JSON has no NaN or Infinity); send a finite "
                      "number, or null where the field allows it")


def _int64(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > 19 or not -_INT64_LIMIT <= (value := int(text)) < _INT64_LIMIT:
        raise _UnsafeJson(f"an integer with {digits} digits is out of range: JSON integers must "
                          "fit in 64 bits (-2^63 <= n < 2^63)")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise _UnsafeJson(f"the number {shown} overflows a 64-bit float; send a finite number "
                          "(|x| < 1.8e308)")
    return value


def json_nesting_depth(body: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings not counted.

    Vectorised (numpy) so an 8 MiB body scans in a fraction of a second: a quote opens or
    closes a string unless an odd run of backslashes precedes it.
    """
    import numpy as np

    codes = np.frombuffer(body, dtype=np.uint8)
    if codes.size == 0:
        return 0
    idx = np.arange(codes.size, dtype=np.int32)
    last_plain = np.maximum.accumulate(np.where(codes == ord("\\"), -1, idx))
    backslashes_before = np.zeros(codes.size, dtype=np.int32)
    backslashes_before[1:] = idx[:-1] - last_plain[:-1]
    quotes = (codes == ord('"')) & (backslashes_before % 2 == 0)
    outside = np.cumsum(quotes, dtype=np.int32) % 2 == 0
    step = (((codes == ord("[")) | (codes == ord("{"))) & outside).astype(np.int32)
    step -= (((codes == ord("]")) | (codes == ord("}"))) & outside).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


# Tokens that may need the checked parse: long digit runs, NaN/Infinity, big exponents, UTF-16
# surrogate escapes. Bodies without any (nearly all) are accepted after one regex pass.
_SUSPECT_TOKEN = re.compile(rb"\d{19,}|NaN|Infinity|[eE][+-]?\d{3,}|\\u[dD][89a-fA-F]")
_LONE_SURROGATE = ("a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its "
                   "pair), which is not Unicode text; send valid UTF-8 or a complete pair")


def _encoding_problem(body: bytes) -> str | None:
    """A message when a body JSON would read as UTF-8 is not valid UTF-8 (UTF-16/32 with their
    byte patterns are left to the parser, which reads them too)."""
    if json.detect_encoding(body) != "utf-8":
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as e:
        return (f"the body is not valid UTF-8 (byte 0x{body[e.start]:02x} at offset {e.start}); "
                "send JSON encoded as UTF-8")
    return None


def json_body_problem(body: bytes) -> str | None:
    """Why this API refuses a JSON body, or None when it is acceptable (or not JSON at all:
    malformed JSON is left to the route, which answers in its own error shape).

    Refused: nesting deeper than ``MAX_JSON_DEPTH``; integers outside 64 bits (a 5,000-digit
    integer would also hit Python's int-parsing limit); ``NaN``/``Infinity`` literals and floats
    that overflow to infinity (neither can be written back as JSON, not even in an error body);
    lone surrogate escapes such as ``"\\ud800"`` (no UTF-8 encoding exists for them); bytes that
    are not UTF-8.
    """
    problem = _encoding_problem(body)
    if problem is not None:
        return problem
    # At most one bracket per level: few brackets in all means no deep nesting (no scan needed).
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        depth = json_nesting_depth(body)
        if depth > MAX_JSON_DEPTH:
            return (f"JSON body nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}: "
                    "flatten the structure")
    if not _SUSPECT_TOKEN.search(body):
        return None
    try:
        value = json.loads(body, parse_constant=_reject_constant, parse_int=_int64,
                           parse_float=_finite_float)
    except _UnsafeJson as e:
        return str(e)
    except (ValueError, RecursionError):  # malformed JSON or text: the route's parser reports it
        return None
    try:  # surrogate pairs decode to one character; a lone half cannot be encoded again
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE
    return None


def _is_json_media_type(content_type: bytes | None) -> bool:
    if not content_type:
        return True  # FastAPI reads an unlabelled body as JSON, so guard it as JSON
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/")
                                            and media.endswith(b"+json"))


class JsonBodyGuardMiddleware:
    """422 with a message that says what to fix when a JSON body is unsafe to parse or echo.

    Only bodies labelled (or defaulted to) JSON are read here; uploads stream through untouched.
    The body is buffered (the size limit runs outside this middleware) and replayed to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") not in _BODY_METHODS
                or not _is_json_media_type(dict(scope.get("headers") or []).get(b"content-type"))):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client left before sending its body
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = json_body_problem(body) if body.strip() else None
        if problem is not None:
            await send_json_error(send, 422, problem, code="invalid_json")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TimeoutMiddleware:
    """504 with a JSON error when the app has not started its response within ``timeout_s``.

    Once the response has started (e.g. a token stream) it is left to finish: cutting a stream
    mid-way would hand the client a truncated body with a 200 status.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = asyncio.Event()

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, tracking_send))
        waiter = asyncio.ensure_future(started.wait())
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not done:
            task.cancel()
            logger.warning("request %s %s timed out after %.1f s", scope.get("method"),
                           scope.get("path"), self.timeout_s)
            await send_json_error(
                send, 504, f"request did not complete within {self.timeout_s:g} s; retry later or "
                "use a batch job for long work"
            )
            return
        await task  # re-raises the app's exception, if any, to the server's error handling


class MetricsMiddleware:
    """Counts requests and observes latency per (method, route template, status)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics,
                 route_template: Callable[[Any], str] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        # Included routers may hand us a route whose .path lacks its prefix; the server resolves
        # the full template (e.g. /v1/maintenance/predict) so labels match the OpenAPI paths.
        self.route_template = route_template or (
            lambda route: getattr(route, "path", None) or "<unmatched>"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start_s = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            template = self.route_template(route) if route is not None else "<unmatched>"
            self.metrics.observe_request(
                scope.get("method", ""), template, status["code"], time.perf_counter() - start_s,
                tags=getattr(route, "tags", None) or (),
            )
