"""The Meter: named, nestable, concurrent measurement windows over the probed backends.

Each window reads every backend's cumulative joules at entry and exit and keeps the difference,
so windows can nest and overlap across threads freely (an outer window includes what inner ones
saw; two concurrent windows each see the whole machine/process over their own span). One
background thread runs only while windows are open and a backend asks for polling (NVML power
sampling at >= 10 Hz, or the RAPL wrap-around guard every few minutes).
"""

from __future__ import annotations

import functools
import logging
import operator
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from core.energy.backends.base import EnergyBackend, ProbeReport
from core.energy.cpu_time import available_cores, process_cpu_s
from core.energy.measurement import (
    ComponentEnergy,
    Measurement,
    combined_scope,
    combined_uncertainty_rel,
)
from core.errors import ConfigError, GreenstackError

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class NoMeasurementError(GreenstackError, KeyError):
    """``Meter.last(name)`` was asked for a window name that has not finished yet."""


@dataclass(frozen=True)
class _Snapshot:
    unix_s: float
    perf_s: float
    cpu_s: float
    energy_j: tuple[dict[str, float], ...]  # per backend, cumulative
    events: tuple[int, ...]  # per backend event index
    poll_errors: int


def _as_count(window: Window) -> int:
    """The window's unit count as a plain int (numpy integers welcome, floats refused)."""
    try:
        return operator.index(window.count)
    except TypeError as e:
        raise ConfigError(
            f"window {window.name!r}: count must be a whole number of {window.unit or 'units'}, "
            f"got {window.count!r}; use w.count += len(batch)"
        ) from e


def _components(
    backends: tuple[EnergyBackend, ...], start: _Snapshot, energy: tuple[dict[str, float], ...]
) -> tuple[tuple[ComponentEnergy, ...], set[str], list[str]]:
    """Per-component joules between two snapshots, their scopes, and backend events since."""
    components: list[ComponentEnergy] = []
    scopes: set[str] = set()
    events: list[str] = []
    for backend, before, after, first_event in zip(
        backends, start.energy_j, energy, start.events, strict=True
    ):
        for key, spec in backend.specs().items():
            delta_j = max(after[key] - before[key], 0.0)  # cumulative sums never go back
            components.append(ComponentEnergy(key, delta_j, spec.method, spec.source))
            scopes.add(spec.scope)
        events.extend(backend.events_since(first_event))
    return tuple(components), scopes, events


class Window:
    """A context manager for one measured span. Set ``count`` to the functional units done."""

    def __init__(self, meter: Meter, name: str, unit: str | None) -> None:
        self.name = name
        self.unit = unit
        self.count = 0
        self.measurement: Measurement | None = None
        self._meter = meter
        self._start: _Snapshot | None = None

    def __enter__(self) -> Window:
        if self._start is not None:
            raise ConfigError(f"window {self.name!r} was entered twice; open a new window")
        self._start = self._meter._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._start is None:
            raise ConfigError(f"window {self.name!r} exited without being entered")
        failed = f"window body raised {exc_type.__name__}: {exc}" if exc_type else None
        self.measurement = self._meter._end(self, self._start, failed)


class Meter:
    """Measures energy in named windows. ``Meter()`` probes RAPL → NVML → CPU/RAM model lazily,
    on the first window or :meth:`probe_report` call.

    ``backends``: use these instead of probing. ``visible_gpus``: NVML indices / UUIDs in CUDA
    ordinal order (None: the factory reads ``CUDA_VISIBLE_DEVICES``). ``gpu_sync(ordinal)``:
    called before each GPU read (e.g. ``torch.cuda.synchronize``). ``probe_options``: more
    keyword arguments for :func:`core.energy.factory.probe` (``powercap_root``, ``nvml_module``…).
    """

    def __init__(
        self,
        backends: Sequence[EnergyBackend] | None = None,
        *,
        visible_gpus: Sequence[int | str] | None = None,
        gpu_sync: Callable[[int], None] | None = None,
        powercap_root: Path | None = None,
        model_ram: bool = True,
        history: int = 1000,
        probe_options: dict[str, Any] | None = None,
    ) -> None:
        if backends is not None and (visible_gpus or gpu_sync or powercap_root or probe_options):
            raise ConfigError(
                "Meter(backends=...) uses the given backends as they are; pass probe settings "
                "(visible_gpus, gpu_sync, powercap_root, probe_options) only when letting it probe"
            )
        self._probe_kwargs: dict[str, Any] = dict(probe_options or {})
        self._probe_kwargs.update(visible_gpus=visible_gpus, gpu_sync=gpu_sync, model_ram=model_ram)
        if powercap_root is not None:
            self._probe_kwargs["powercap_root"] = powercap_root
        self._backends: tuple[EnergyBackend, ...] | None = None
        self._report: ProbeReport | None = None
        self._probe_notes: tuple[str, ...] = ()
        if backends is not None:
            self._install(tuple(backends), ProbeReport(tuple(b.probe_entry() for b in backends)))
        self._lock = threading.Lock()
        self._open_windows = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_errors: list[str] = []
        self._last: dict[str, Measurement] = {}
        self._history: deque[Measurement] = deque(maxlen=history)
        self._cores = available_cores()

    def _install(
        self, backends: tuple[EnergyBackend, ...], report: ProbeReport
    ) -> tuple[EnergyBackend, ...]:
        if not any(b.produces_energy for b in backends):
            raise ConfigError(
                "no energy-producing backend: pass at least one (e.g. CpuModelBackend) or call "
                "Meter() without backends to probe the machine"
            )
        self._backends, self._report = backends, report
        self._probe_notes = report.notes()
        return backends

    def _ensure_probed(self) -> tuple[EnergyBackend, ...]:
        backends = self._backends
        if backends is not None:
            return backends
        with self._lock:
            if self._backends is not None:  # another thread probed while we waited
                return self._backends
            from core.energy.factory import probe  # reads sysfs / loads NVML: only when needed

            result = probe(**self._probe_kwargs)
            return self._install(result.backends, result.report)

    @property
    def backends(self) -> tuple[EnergyBackend, ...]:
        """The backends in use (probes on first access)."""
        return self._ensure_probed()

    def probe_report(self) -> ProbeReport:
        """Which backends were found, unreadable or absent, and why."""
        self._ensure_probed()
        if self._report is None:
            raise ConfigError("energy backends were installed without a probe report")
        return self._report

    def window(self, name: str, unit: str | None = None) -> Window:
        """A measured span: ``with meter.window("train", unit="sample") as w: ...``."""
        return Window(self, name, unit)

    def measure(
        self, name: str, unit: str | None = None, count: int = 1
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: each call is a window of ``count`` units; read it with :meth:`last`."""

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.window(name, unit) as w:
                    result = fn(*args, **kwargs)
                    w.count += count
                return result

            return wrapper

        return decorate

    def last(self, name: str) -> Measurement:
        """The most recently finished measurement of window ``name``."""
        with self._lock:
            found = self._last.get(name)
        if found is None:
            raise NoMeasurementError(
                f"no finished window named {name!r}; open one with meter.window({name!r})"
            )
        return found

    def history(self) -> tuple[Measurement, ...]:
        """Finished measurements, oldest first (bounded by ``history``)."""
        with self._lock:
            return tuple(self._history)

    # -- window plumbing -------------------------------------------------------------------

    def _begin(self) -> _Snapshot:
        backends = self._ensure_probed()
        with self._lock:
            self._open_windows += 1
            if self._open_windows == 1:
                self._start_poller(backends)
            poll_errors = len(self._poll_errors)
        try:
            energy = tuple(b.read() for b in backends)
        except BaseException:
            with self._lock:  # the window never opened: do not leave the poller running
                self._open_windows -= 1
                if self._open_windows == 0:
                    self._stop_poller()
            raise
        events = tuple(b.event_count() for b in backends)
        cpu_s = process_cpu_s()
        return _Snapshot(time.time(), time.perf_counter(), cpu_s, energy, events, poll_errors)

    def _end(self, window: Window, start: _Snapshot, failed: str | None) -> Measurement:
        perf_s, cpu_s = time.perf_counter(), process_cpu_s()
        backends = self._ensure_probed()
        try:
            energy = tuple(b.read() for b in backends)
        finally:
            with self._lock:
                self._open_windows -= 1
                if self._open_windows == 0:
                    self._stop_poller()
                poll_errors = tuple(self._poll_errors[start.poll_errors :])
        components, scopes, events = _components(backends, start, energy)
        notes = (*self._probe_notes, *events, *poll_errors, *((failed,) if failed else ()))
        wall_s = max(perf_s - start.perf_s, 0.0)
        used_cpu_s = max(cpu_s - start.cpu_s, 0.0)
        m = Measurement(
            name=window.name,
            unit=window.unit,
            count=_as_count(window),
            start_unix_s=start.unix_s,
            wall_s=wall_s,
            cpu_s=used_cpu_s,
            components=components,
            scope=combined_scope(scopes),
            utilisation=used_cpu_s / (wall_s * self._cores) if wall_s > 0 else 0.0,
            uncertainty_rel=combined_uncertainty_rel(components),
            notes=notes,
        )
        with self._lock:
            self._last[window.name] = m
            self._history.append(m)
        return m

    # -- the one background thread ---------------------------------------------------------

    def _start_poller(self, backends: tuple[EnergyBackend, ...]) -> None:
        pollers = [b for b in backends if b.poll_interval_s]
        if not pollers:
            return
        interval_s = min(b.poll_interval_s or 0.0 for b in pollers)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._poll_loop,
            args=(pollers, interval_s, self._stop),
            name="greenstack-energy-poller",
            daemon=True,
        )
        self._thread.start()

    def _stop_poller(self) -> None:
        self._stop.set()  # the loop wakes at once; no join, so closing a window stays cheap
        self._thread = None

    def _poll_loop(
        self, pollers: list[EnergyBackend], interval_s: float, stop: threading.Event
    ) -> None:
        while not stop.wait(interval_s):
            for backend in pollers:
                try:
                    backend.poll()
                except Exception as e:  # thread boundary: record it in every open window
                    logger.error("energy polling of %s failed: %s", backend.name, e)
                    with self._lock:
                        self._poll_errors.append(
                            f"{backend.name} polling failed ({e}); its energy after that point is "
                            "interpolated between window edges only"
                        )
                    stop.set()

    @property
    def polling(self) -> bool:
        """True while the background thread runs (for tests and diagnostics)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self) -> None:
        """Stop polling and release vendor handles."""
        with self._lock:
            self._stop_poller()
        for backend in self._backends or ():
            backend.close()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
