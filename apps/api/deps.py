"""Shared FastAPI dependencies: the app context and scope checks.

Routers use::

    @router.get("/x")
    def x(ctx: ContextDep): ...

    @router.post("/setpoint", dependencies=[Depends(require_scope("control"))])
    def setpoint(ctx: ContextDep, body: SetpointIn): ...

    # or, to see which key called:
    def job(ctx: ContextDep, key: Annotated[Principal, Depends(require_scope("jobs"))]): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
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


def _open_reads(request: Request) -> bool:
    settings = getattr(request.app.state, "settings", None)
    return bool(getattr(settings, "open_reads", False))


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that admits requests whose API key grants ``scope``.

    ``read`` is open without a key when ``Settings.open_reads`` is true; every other scope always
    needs a key. Missing/unknown/revoked key → 401; valid key without the scope → 403.
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
            if scope == "read" and _open_reads(request):
                return Principal(key_id=None, scopes=frozenset({"read"}))
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
        return Principal(key_id=key.key_id, scopes=key.scopes)

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadDep = Annotated[Principal, Depends(require_scope("read"))]
