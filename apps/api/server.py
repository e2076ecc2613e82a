"""The REST API: one FastAPI app mounting every app's router under ``/v1``.

Build it with :func:`create_app` (never at import). ``greenstack serve`` runs it under uvicorn
with ``factory=True``, so each worker builds its own app from the same settings; all shared state
(ledger, API keys, run store) lives in the ledger database or on disk.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from apps.api.auth import ApiKeyStore, AuthError, ScopeError
from apps.api.docs import mount_api_docs
from apps.api.metrics import ServerMetrics
from apps.api.middleware import (
    BodySizeLimitMiddleware,
    JsonBodyGuardMiddleware,
    MetricsMiddleware,
    TimeoutMiddleware,
)
from apps.registry import available_apps
from core.errors import (
    ConfigError,
    DataError,
    GateError,
    GreenstackError,
    LedgerError,
    ModelError,
)

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.settings import Settings

logger = logging.getLogger(__name__)

API_PREFIX = "/v1"
DEFAULT_REQUEST_TIMEOUT_S = 120.0  # an LLM answer on 2 CPU cores can take a minute

# Errors every mounted route may answer with, documented so clients (and the fuzzer) expect them.
# Two shapes: FastAPI's {"detail": ...} and, on the OpenAI-compatible assistant routes,
# OpenAI's {"error": {"message": ..., "type": ...}}.
_ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"type": "object", "properties": {"detail": {}}, "required": ["detail"]},
                    {
                        "type": "object",
                        "properties": {
                            "error": {
                                "type": "object",
                                "properties": {"message": {"type": "string"}},
                                "required": ["message"],
                            }
                        },
                        "required": ["error"],
                    },
                ]
            }
        }
    }
}
COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid configuration or parameter", **_ERROR_SCHEMA},
    401: {"description": "Missing, unknown or revoked API key", **_ERROR_SCHEMA},
    403: {"description": "API key lacks the scope this endpoint needs", **_ERROR_SCHEMA},
    404: {"description": "No such resource (unknown id in the path)", **_ERROR_SCHEMA},
    409: {"description": "Quality gate could not compare models", **_ERROR_SCHEMA},
    413: {"description": "Request body over the server limit", **_ERROR_SCHEMA},
    415: {"description": "Request body media type not accepted (e.g. text/plain on a JSON route)",
          **_ERROR_SCHEMA},
    422: {"description": "Invalid input data, or a JSON body nested over 64 levels or holding "
                         "NaN/Infinity or out-of-range numbers", **_ERROR_SCHEMA},
    503: {"description": "Model or ledger unavailable", **_ERROR_SCHEMA},
    504: {"description": "No response within the request timeout", **_ERROR_SCHEMA},
}

# Domain errors → HTTP status; first match wins (subclasses before their parents).
_ERROR_STATUS: tuple[tuple[type[GreenstackError], int], ...] = (
    (AuthError, 401),
    (ScopeError, 403),
    (DataError, 422),
    (ConfigError, 400),
    (GateError, 409),
    (ModelError, 503),
    (LedgerError, 503),
)


def iter_api_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], APIRoute]]:
    """Every API route with its full path template and methods, included routers flattened.

    FastAPI >= 0.13x keeps included routers nested (``app.routes`` holds the router, not its
    routes); ``iter_route_contexts`` resolves them. Older releases list the routes directly.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: routes are copied into app.routes with full paths
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, frozenset(route.methods), route
        return
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, APIRoute):
            yield rc.path_format or route.path, frozenset(rc.methods or route.methods), route


def _route_template_lookup(app: FastAPI) -> Callable[[Any], str]:
    """``route object → full path template``, built once all routes exist (first request)."""
    cache: dict[int, str] = {}

    def lookup(route: Any) -> str:
        if not cache:
            cache.update({id(r): path for path, _, r in iter_api_routes(app)})
        return cache.get(id(route)) or getattr(route, "path", None) or "<unmatched>"

    return lookup


def _mount_routers(app: FastAPI) -> dict[str, str]:
    """Include each app's router under /v1; returns {app: error} for routers that failed."""
    errors: dict[str, str] = {}
    mounted: list[str] = []
    for name in available_apps("router"):
        try:
            module = importlib.import_module(f"apps.{name}.router")
            app.include_router(module.router, prefix=API_PREFIX, responses=COMMON_ERROR_RESPONSES)
            collector = getattr(module, "metrics_collector", None)  # an app's own gauges
            if collector is not None:
                app.state.metrics.registry.register(collector(app.state.ctx))
        except Exception as e:  # one broken app must not take the others down; /health shows it
            logger.exception("could not mount the %s router", name)
            errors[name] = f"{type(e).__name__}: {e}"
            continue
        mounted.append(name)
    app.state.mounted_apps = tuple(mounted)
    return errors


async def _greenstack_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in _ERROR_STATUS if isinstance(exc, cls)), 500)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=status)


_ECHO_MAX_CHARS = 200  # an invalid value echoed in a 422 is cut to this many characters
_ECHO_MAX_ITEMS = 20
_ECHO_MAX_DEPTH = 4


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON (no NaN/Infinity, no objects), trimmed for echoing in errors.

    Non-finite floats become their text ("nan", "inf"), bytes are decoded, other objects
    (exceptions in pydantic's ``ctx``) become ``str()``; long strings and containers are cut.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, dict | list | tuple | set | frozenset):
        if depth >= _ECHO_MAX_DEPTH:
            return "..."
        if isinstance(value, dict):
            items = list(value.items())[:_ECHO_MAX_ITEMS]
            return {str(k)[:_ECHO_MAX_CHARS]: json_safe(v, depth + 1) for k, v in items}
        return [json_safe(v, depth + 1) for v in list(value)[:_ECHO_MAX_ITEMS]]
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _ECHO_MAX_CHARS else text[:_ECHO_MAX_CHARS] + "..."


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, but always serialisable: the echoed input may hold NaN or objects."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{k: json_safe(v) for k, v in e.items() if k != "url"} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # Serving footprints are summed per minute in memory: write the open windows on shutdown.
    from core.ledger.serving import serving_book

    serving_book(app.state.ctx.ledger).close()


def create_app(
    settings: Settings | None = None,
    ctx: AppContext | None = None,
    *,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """Build the API server.

    ``settings`` default to ``Settings()`` (``GREENSTACK_*`` env vars); ``ctx`` defaults to
    ``build_context(settings)``. CORS stays off unless ``cors_origins`` names origins.
    """
    from apps.api.system_routes import build_system_router, ledger_totals
    from apps.context import build_context
    from apps.settings import Settings

    settings = settings or Settings()
    ctx = ctx or build_context(settings)
    app = FastAPI(
        title="greenstack API",
        version="0.1.0",
        description=(
            "Sustainability-impact suite: every app reports the emissions it saves next to the "
            "emissions it costs. Reads may be open (GREENSTACK_OPEN_READS); requests that run a "
            "model need a key with the `compute` scope and writes one with theirs "
            "(`greenstack keys create --scopes read compute control jobs admin`)."
        ),
        # FastAPI's own /docs and /redoc pages load their scripts from a CDN, blank on an
        # isolated network; mount_api_docs serves Swagger UI from an installed package instead.
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.ctx = ctx
    app.state.key_store = ApiKeyStore(ctx.ledger.engine)
    app.state.metrics = ServerMetrics(lambda: ledger_totals(ctx.ledger))
    app.state.mount_errors = _mount_routers(app)
    app.include_router(build_system_router(), responses=COMMON_ERROR_RESPONSES)
    mount_api_docs(app)
    app.add_exception_handler(GreenstackError, _greenstack_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)

    # add_middleware wraps outward: the last added runs first. Order seen by a request:
    # metrics → body limit → JSON guard → timeout → (CORS) → routes, so 400/413/504 answers are
    # counted too and the guard reads a body the limit has already bounded.
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(TimeoutMiddleware, timeout_s=request_timeout_s)
    app.add_middleware(JsonBodyGuardMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics,
                       route_template=_route_template_lookup(app))
    return app
