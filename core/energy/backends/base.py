"""The one interface every energy backend implements, plus the null backend.

A backend exposes *cumulative* joules per component since it was created. A window reads every
backend at its start and end and keeps the difference, so any number of windows can be open at
once (nested or in other threads) without the backends knowing about them.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.energy.measurement import Method

ProbeStatus = Literal["used", "unreadable", "absent", "not_needed"]


@dataclass(frozen=True)
class ComponentSpec:
    """Static facts about one component a backend reports."""

    name: str  # "cpu_package:0", "gpu:1", "cpu_model", ...
    method: Method
    source: str  # the counter path / device / table row the joules come from
    scope: str  # "machine" (hardware counter) or "process" (model of this process)


@dataclass(frozen=True)
class ProbeEntry:
    """What the factory found for one backend and why it is (not) used."""

    backend: str  # "rapl", "nvml", "cpu_model", "ram_model"
    status: ProbeStatus
    detail: str


@dataclass(frozen=True)
class ProbeReport:
    """Which backends were found, which were unreadable and why. Printed by the CLI."""

    entries: tuple[ProbeEntry, ...]

    def to_text(self) -> str:
        """One aligned line per backend."""
        return "\n".join(f"{e.backend:<10} {e.status:<11} {e.detail}" for e in self.entries)

    def notes(self) -> tuple[str, ...]:
        """The entries as notes for a Measurement (why a counter was or was not used)."""
        return tuple(f"{e.backend}: {e.status}: {e.detail}" for e in self.entries)


class EnergyBackend(ABC):
    """A source of cumulative joules per component.

    Subclasses implement :meth:`read`; ``read`` must be safe to call from several threads.
    ``poll_interval_s`` is not None when the backend needs :meth:`poll` called periodically
    (power sampling, counter wrap guard) while windows are open; the Meter runs one thread for it.
    """

    name: str = "backend"
    poll_interval_s: float | None = None

    def __init__(self) -> None:
        self._events: list[str] = []
        self._events_lock = threading.Lock()

    @abstractmethod
    def specs(self) -> Mapping[str, ComponentSpec]:
        """The components this backend reports, by name."""

    @abstractmethod
    def read(self) -> dict[str, float]:
        """Cumulative joules per component since the backend was created (monotonic)."""

    @abstractmethod
    def probe_entry(self) -> ProbeEntry:
        """How this backend came to be used (for the probe report)."""

    def poll(self) -> None:
        """Periodic work (sampling, wrap guard). Called by the Meter's one background thread."""
        self.read()

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release vendor handles."""

    @property
    def produces_energy(self) -> bool:
        """False for the null backend: the Meter needs at least one backend that is True."""
        return bool(self.specs())

    def event_count(self) -> int:
        """Number of events (counter resets, ...) so far; windows remember it at their start."""
        with self._events_lock:
            return len(self._events)

    def events_since(self, index: int) -> tuple[str, ...]:
        """Events recorded after ``index`` (from :meth:`event_count`)."""
        with self._events_lock:
            return tuple(self._events[index:])

    def _record_event(self, message: str) -> None:
        with self._events_lock:
            self._events.append(message)


class NullBackend(EnergyBackend):
    """Stands in for absent hardware: reports nothing, says why in the probe report."""

    name = "null"

    def __init__(self, backend: str = "null", reason: str = "no backend") -> None:
        super().__init__()
        self._entry = ProbeEntry(backend, "absent", reason)

    def specs(self) -> Mapping[str, ComponentSpec]:
        return {}

    def read(self) -> dict[str, float]:
        return {}

    def probe_entry(self) -> ProbeEntry:
        return self._entry


class TrapezoidIntegrator:
    """Integrates a power signal (W) over time (s) into joules with the trapezoid rule.

    Not thread-safe on its own; callers hold their lock around :meth:`add`.
    """

    def __init__(self) -> None:
        self.energy_j = 0.0
        self._last_t_s: float | None = None
        self._last_power_w = 0.0
        self.samples = 0

    def add(self, t_s: float, power_w: float) -> float:
        """Add a sample taken at monotonic time ``t_s``; returns the cumulative joules."""
        if self._last_t_s is not None and t_s > self._last_t_s:
            self.energy_j += 0.5 * (self._last_power_w + power_w) * (t_s - self._last_t_s)
        if self._last_t_s is None or t_s >= self._last_t_s:
            self._last_t_s = t_s
            self._last_power_w = power_w
        self.samples += 1
        return self.energy_j
