"""Pure-ASGI middleware for the API server: body size limit, time-to-first-byte limit, metrics.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses (chat completions) pass through
untouched and a limit can answer before the app reads a byte.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.api.metrics import ServerMetrics

logger = logging.getLogger(__name__)


async def send_json_error(send: Send, status: int, detail: str) -> None:
    """Send a complete JSON error response ``{"detail": ...}`` (FastAPI's error shape)."""
    body = json.dumps({"detail": detail}).encode()
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
