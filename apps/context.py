"""What every app service is built from: core objects plus paths. Built once at the process edge."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # heavy-ish imports stay out of `greenstack --help`
    from apps.settings import Settings
    from core.carbon import IntensitySource
    from core.energy import Meter
    from core.ledger import Ledger
    from core.runs import RunStore

S = TypeVar("S")


@dataclass(frozen=True)
class AppContext:
    """Shared handles for app services. Constructed by :func:`build_context` or by tests."""

    data_dir: Path  # shipped sample data root (``data/``) or the user's data
    cache_dir: Path  # git-ignored derived data; run store under ``cache_dir / "runs"``
    models_dir: Path  # ``models/<app>/`` holds model cards (JSON) and artifacts
    ledger: Ledger
    meter: Meter
    carbon: IntensitySource  # resolved zone; `.intensity(at=None)` gives an Intensity with source
    pue: float = 1.0
    force: bool = False  # rerun finished runs instead of reusing
    assistant_model: Path | None = None  # a user's GGUF for the assistant; None: the shipped one

    def app_models_dir(self, app: str) -> Path:
        """``models/<app>/``, created on demand."""
        path = self.models_dir / app
        path.mkdir(parents=True, exist_ok=True)
        return path

    def app_cache_dir(self, app: str) -> Path:
        """``<cache>/<app>/``, created on demand."""
        path = self.cache_dir / app
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run_store(self) -> RunStore:
        """The run store under ``cache_dir / "runs"``, metering and booking with this context."""
        from core.runs import RunStore

        return RunStore(self.cache_dir / "runs", ledger=self.ledger, meter=self.meter,
                        carbon=self.carbon, pue=self.pue)


def build_context(settings: Settings) -> AppContext:
    """Build the context from settings; raises UnknownZoneError when no zone is set."""
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    return AppContext(
        data_dir=settings.data_dir,
        cache_dir=settings.cache_dir,
        models_dir=settings.models_dir,
        ledger=Ledger(settings.resolved_ledger_url()),
        meter=Meter(),
        carbon=resolve_source(zone=settings.zone, hourly_csv=settings.grid_csv),
        pue=settings.pue,
        force=settings.force,
        assistant_model=settings.assistant_model,
    )


# One service per (context, app) for as long as the context lives; every app's service_for uses it.
@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    service: Any = None
    built: bool = False


_SERVICES: weakref.WeakKeyDictionary[AppContext, dict[str, _Slot]] = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def _slot(ctx: AppContext, app: str) -> _Slot:
    with _SERVICES_LOCK:
        return _SERVICES.setdefault(ctx, {}).setdefault(app, _Slot())


def cached_service(ctx: AppContext, app: str, build: Callable[[AppContext], S]) -> S:
    """The ``app`` service of ``ctx``, built by ``build(ctx)`` on first use and then shared.

    Surfaces (router, page, CLI) reach a service through the app's ``service.service_for(ctx)``,
    which calls this, so loaded models and caches live once per context and process. Only the
    first caller for one (context, app) builds; others wait for it, other apps do not.
    """
    slot = _slot(ctx, app)
    with slot.lock:
        if not slot.built:
            slot.service, slot.built = build(ctx), True
        service: S = slot.service
        return service


def register_service(ctx: AppContext, app: str, service: Any) -> None:
    """Make ``service`` the one :func:`cached_service` returns for ``ctx`` (a preloaded model)."""
    slot = _slot(ctx, app)
    with slot.lock:
        slot.service, slot.built = service, True
