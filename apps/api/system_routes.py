"""Suite-wide endpoints: ``/health``, ``/metrics`` and ``/v1/impact``."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from apps.api.deps import ContextDep, ReadDep
from apps.api.metrics import AppTotals
from apps.context import AppContext
from apps.registry import APP_NAMES
from core.impact import ImpactReport, split_savings

logger = logging.getLogger(__name__)

EMPTY_LEDGER_HINT = (
    "The ledger has no records yet. Produce them with `make demo` or `greenstack run all` "
    "(one app: `greenstack run maintenance`)."
)


class LedgerHealth(BaseModel):
    """Whether the ledger database answers."""

    reachable: bool
    backend: str = Field(description="SQLAlchemy dialect, e.g. sqlite or postgresql")
    error: str | None = None


class ModelHealth(BaseModel):
    """One model card: which model serves and why (the gate's verdict)."""

    card: str = Field(description="card file under models/<app>/")
    reference: str | None = None
    candidate: str | None = None
    gate_verdict: str = Field(description="PASS, FAIL, or none (no gate has run)")
    served: str = Field(description="candidate (compressed, gate passed) or reference")
    reason: str


class AppHealth(BaseModel):
    """One app as this server process sees it."""

    name: str
    installed: bool = Field(description="apps/<app>/router.py exists")
    router_mounted: bool
    error: str | None = Field(None, description="why the router or service is unavailable")
    models: list[ModelHealth] = Field(default_factory=list, description="from the model cards")
    service: dict[str, Any] | None = Field(
        None, description="the app service's own health(), where it offers one"
    )


class HealthOut(BaseModel):
    """Server health: ledger reachability and each app's serving state."""

    status: Literal["ok", "degraded"]
    ledger: LedgerHealth
    apps: list[AppHealth]


class ImpactOut(BaseModel):
    """Impact report per app (``core.impact.ImpactReport``) and for the whole suite."""

    apps: dict[str, ImpactReport]
    total: ImpactReport | None = Field(None, description="all apps together; null if empty")
    empty: bool
    hint: str | None = Field(None, description="how to produce data when the ledger is empty")


def _to_plain(value: Any) -> Any:
    """Service health payloads as JSON-ready dicts (pydantic, dataclass, or dict)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _service_for(app_name: str) -> Any:
    """The app's cached ``service_for(ctx)`` factory (every app has it in ``service.py``)."""
    return importlib.import_module(f"apps.{app_name}.service").service_for


def model_health(models_dir: Path, app: str) -> list[ModelHealth]:
    """:func:`core.gates.model_health` as response models."""
    from core.gates import model_health as card_health

    return [ModelHealth(**dataclasses.asdict(h)) for h in card_health(models_dir, app)]


def _app_health(name: str, ctx: AppContext, mounted: bool, mount_error: str | None) -> AppHealth:
    if not mounted:
        return AppHealth(name=name, installed=mount_error is not None, router_mounted=False,
                         error=mount_error or "not installed")
    try:
        service = _service_for(name)(ctx)
        health = getattr(service, "health", None)
        payload = _to_plain(health()) if callable(health) else None
    except Exception as e:  # health reports a broken service instead of failing the probe
        logger.exception("health() of %s failed", name)
        return AppHealth(name=name, installed=True, router_mounted=True,
                         error=f"{type(e).__name__}: {e}")
    if payload is not None and not isinstance(payload, dict):
        payload = {"value": payload}
    return AppHealth(name=name, installed=True, router_mounted=True, service=payload,
                     models=model_health(ctx.models_dir, name))


def _ledger_health(ctx: AppContext) -> LedgerHealth:
    engine = ctx.ledger.engine
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as e:
        return LedgerHealth(reachable=False, backend=engine.dialect.name, error=str(e))
    return LedgerHealth(reachable=True, backend=engine.dialect.name)


def ledger_totals(ledger: Any) -> list[AppTotals]:
    """Per-app footprint energy/emissions and central savings (``monitoring`` excluded).

    Savings follow core.impact's superseding rule (``split_savings``: every event, only the
    latest estimate per app, kind and baseline), so they equal ``/v1/impact``'s. ``records``
    counts every footprint and non-monitoring saving record read, superseded ones included.
    """
    footprints = ledger.footprints()
    savings = [s for s in ledger.savings() if s.kind != "monitoring"]
    counted = split_savings(savings).counted
    rows = []
    for app in sorted({r.app for r in footprints} | {s.app for s in savings}):
        mine = [r for r in footprints if r.app == app]
        rows.append(
            AppTotals(
                app=app,
                footprint_energy_kwh=sum(r.energy_kwh for r in mine),
                footprint_co2e_kg=sum(r.co2e_kg for r in mine),
                saved_co2e_kg=sum(s.co2e_kg for s in counted if s.app == app),
                records=len(mine) + sum(1 for s in savings if s.app == app),
            )
        )
    return rows


def build_system_router() -> APIRouter:
    """Routes every server has regardless of which apps are installed."""
    router = APIRouter()

    @router.get("/health", tags=["system"], response_model=HealthOut)
    def health(request: Request, ctx: ContextDep) -> HealthOut:
        """Ledger reachability and, per app, whether its router is mounted and what it serves."""
        mounted = set(getattr(request.app.state, "mounted_apps", ()))
        errors: dict[str, str] = getattr(request.app.state, "mount_errors", {})
        apps = [_app_health(n, ctx, n in mounted, errors.get(n)) for n in APP_NAMES]
        ledger = _ledger_health(ctx)
        ok = ledger.reachable and not any(a.error for a in apps if a.installed)
        return HealthOut(status="ok" if ok else "degraded", ledger=ledger, apps=apps)

    @router.get(
        "/metrics",
        tags=["system"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics(request: Request, _: ReadDep) -> Response:
        """Prometheus text: requests, latency histograms, ledger energy and CO2 per app."""
        body = request.app.state.metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @router.get("/v1/impact", tags=["impact"], response_model=ImpactOut,
                responses={404: {"description": "No ledger records for that app"}})
    def impact(
        ctx: ContextDep,
        _: ReadDep,
        app: Annotated[str | None, Query(max_length=64, description="one app; all if unset")] = None,
    ) -> ImpactOut:
        """Footprint by phase, savings with ranges, net, payback and SCI, per app and in total."""
        return _impact(ctx, app)

    return router


def _impact(ctx: AppContext, app: str | None) -> ImpactOut:
    names = ctx.ledger.apps()
    if app is not None and app not in names:
        raise HTTPException(
            404,
            f"no ledger records for app {app!r}; apps with records: {names or 'none'}. "
            + EMPTY_LEDGER_HINT,
        )
    selected = [app] if app else names
    per_app = {n: ImpactReport.from_ledger(ctx.ledger, app=n) for n in selected}
    total = ImpactReport.from_ledger(ctx.ledger) if names and not app else None
    return ImpactOut(
        apps=per_app, total=total, empty=not names, hint=None if names else EMPTY_LEDGER_HINT
    )
