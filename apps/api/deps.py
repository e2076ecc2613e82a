"""Shared FastAPI dependencies: the app context and scope checks.

Routers use::

    @router.get("/x")
    def x(ctx: ContextDep): ...

    @router.post("/predict", dependencies=[COMPUTE])  # runs a model: needs the compute scope
    def predict(ctx: ContextDep, body: PredictIn): ...

    @router.post("/setpoint", dependencies=[Depends(require_scope("control"))])
    def setpoint(ctx: ContextDep, body: SetpointIn): ...

    # or, to see which key called:
    def job(ctx: ContextDep, key: Annotated[Principal, Depends(require_scope("jobs"))]): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.params import Form
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from apps.api.auth import SCOPES, ApiKeyStore, AuthError, ScopeError
from apps.context import AppContext
from core.errors import ConfigError

_bearer = HTTPBearer(
    auto_error=False, description="API key as 'Authorization: Bearer gsk_...'"
)
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key as 'X-API-Key: gsk_...'"
)


@dataclass(frozen=True)
class Principal:
    """Who made a request: a key id and its scopes, or anonymous (open reads)."""

    key_id: str | None
    scopes: frozenset[str]

    @property
    def anonymous(self) -> bool:
        """True when no key was sent (only possible on open reads)."""
        return self.key_id is None


def get_context(request: Request) -> AppContext:
    """The AppContext that ``create_app`` placed on ``app.state``."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        raise HTTPException(503, "server has no application context; build it with create_app()")
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def _key_store(request: Request) -> ApiKeyStore:
    store = getattr(request.app.state, "key_store", None)
    if store is None:
        raise HTTPException(503, "server has no API key store; build it with create_app()")
    return store


def _open_without_key(request: Request, scope: str) -> bool:
    """Whether ``scope`` is open to anonymous callers: ``read`` with ``open_reads``, ``compute``
    with ``open_compute`` (off by default: running a model costs energy, so it needs a key)."""
    settings = getattr(request.app.state, "settings", None)
    flag = {"read": "open_reads", "compute": "open_compute"}.get(scope)
    return flag is not None and bool(getattr(settings, flag, False))


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that admits requests whose API key grants ``scope``.

    ``read`` is open without a key when ``Settings.open_reads`` is true, ``compute`` (anything
    that runs a model) only when ``Settings.open_compute`` is; every other scope always needs a
    key. Missing/unknown/revoked key → 401; valid key without the scope → 403. Once the
    caller is admitted, a request body whose Content-Type the route does not take → 415 (checked
    here because every route with a body has a scope, and so only after authentication).
    """
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")

    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        api_key: Annotated[str | None, Security(_api_key_header)] = None,
    ) -> Principal:
        token = api_key or (bearer.credentials if bearer else None)
        if not token:
            if _open_without_key(request, scope):
                check_media_type(request)
                return Principal(key_id=None, scopes=frozenset({scope}))
            raise HTTPException(
                401,
                f"this endpoint needs an API key with scope '{scope}': send "
                "'Authorization: Bearer <token>' or 'X-API-Key: <token>'; create one with "
                f"`greenstack keys create --scopes {scope}`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            key = _key_store(request).authorize(token, scope)
        except AuthError as e:
            raise HTTPException(401, str(e), headers={"WWW-Authenticate": "Bearer"}) from e
        except ScopeError as e:
            raise HTTPException(403, str(e)) from e
        check_media_type(request)
        return Principal(key_id=key.key_id, scopes=key.scopes)

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadDep = Annotated[Principal, Depends(require_scope("read"))]
COMPUTE = Depends(require_scope("compute"))
"""Route dependency for endpoints that run a model: ``dependencies=[COMPUTE]``."""


_FORM_MEDIA = ("multipart/form-data", "application/x-www-form-urlencoded")
_JSON_MEDIA = ("application/json",)


def accepted_media_types(route: Any) -> tuple[str, ...]:
    """Media types a route's request body accepts; empty when it takes no body.

    Routes that parse their own body (the OpenAI-compatible chat route) declare it in
    ``openapi_extra``; the others follow their FastAPI body field (a form or JSON).
    """
    declared = ((getattr(route, "openapi_extra", None) or {}).get("requestBody") or {}).get(
        "content") or {}
    if declared:
        return tuple(declared)
    field = getattr(route, "body_field", None)
    if field is None:
        return ()
    return _FORM_MEDIA if isinstance(field.field_info, Form) else _JSON_MEDIA


def _media_matches(media: str, accepted: tuple[str, ...]) -> bool:
    if media in accepted:
        return True
    is_json = media.startswith("application/") and media.endswith("+json")
    return is_json and "application/json" in accepted


def check_media_type(request: Request) -> None:
    """415 when a request body's Content-Type is not one its route accepts (e.g. text/plain
    sent to a JSON route). An unlabelled body on a JSON route is read as JSON, as FastAPI does."""
    accepted = accepted_media_types(request.scope.get("route"))
    if not accepted:
        return
    headers = request.headers
    length = headers.get("content-length")
    if (length is None or length == "0") and "transfer-encoding" not in headers:
        return  # no body: the route's own validation says what is missing
    content_type = headers.get("content-type")
    media = content_type.split(";", 1)[0].strip().lower() if content_type else None
    if media is None and "application/json" in accepted:
        return
    if media is None or not _media_matches(media, accepted):
        raise HTTPException(
            415, f"Content-Type {content_type or '(none)'} is not accepted here; send the body as "
            f"{' or '.join(accepted)} with a matching Content-Type header")
