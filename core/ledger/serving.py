"""Serving footprints aggregated per endpoint and wall-clock window before they reach the ledger.

One ledger row per request lets any caller grow the ledger without bound (300 predictions, 300
rows). A :class:`ServingBook` sums each request's measurement in memory under its key (app, run,
measurement name, energy method and scope, intensity, PUE, detail) and appends one footprint per
key when its window (default one minute, aligned to the clock) has closed: request and
per-app counts (tokens, engines) in ``notes``, energy and CO2 summed, method and intensity source
kept. The per-request figure stays in each response; the ledger stays append-only.

A window is appended by a background flusher shortly after it closes, by :meth:`flush`, and by
:meth:`close` (server shutdown, interpreter exit). A killed process loses at most its open
windows: the last ``window_s`` seconds of serving per key.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.energy.measurement import ComponentEnergy, Measurement
from core.errors import DataError, GreenstackError

if TYPE_CHECKING:
    from core.carbon import Intensity
    from core.ledger.records import FootprintRecord
    from core.ledger.store import Ledger

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 60.0
_MAX_NOTES = 8  # distinct measurement notes kept per aggregate


@dataclass(frozen=True)
class _Key:
    app: str
    run_id: str
    phase: str
    name: str
    unit: str | None
    method: str
    scope: str
    intensity: Intensity
    pue: float
    detail: str
    window_start_s: float


@dataclass
class _Window:
    """Running sums for one key (memory stays constant however many requests arrive)."""

    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    requests: int = 0
    count: int = 0
    first_start_s: float = math.inf
    wall_s: float = 0.0
    cpu_s: float = 0.0
    busy_utilisation_s: float = 0.0  # utilisation × wall, to average by busy time
    uncertainty_rel: float = 0.0
    components: dict[tuple[str, str, str], float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    notes: dict[str, None] = field(default_factory=dict)

    def add(self, m: Measurement, counters: Mapping[str, float]) -> None:
        self.requests += 1
        self.count += int(m.count)
        self.first_start_s = min(self.first_start_s, m.start_unix_s)
        self.wall_s += m.wall_s
        self.cpu_s += m.cpu_s
        self.busy_utilisation_s += m.utilisation * m.wall_s
        self.uncertainty_rel = max(self.uncertainty_rel, m.uncertainty_rel)
        for c in m.components:
            key = (c.name, c.method, c.source)
            self.components[key] = self.components.get(key, 0.0) + c.energy_j
        for name, value in counters.items():
            self.counters[name] = self.counters.get(name, 0.0) + float(value)
        for note in m.notes:
            if len(self.notes) < _MAX_NOTES:
                self.notes.setdefault(note, None)

    def measurement(self, key: _Key) -> Measurement:
        utilisation = self.busy_utilisation_s / self.wall_s if self.wall_s > 0 else 0.0
        return Measurement(
            name=key.name, unit=key.unit, count=self.count, start_unix_s=self.first_start_s,
            wall_s=self.wall_s, cpu_s=self.cpu_s,
            components=tuple(ComponentEnergy(n, j, method, src)  # type: ignore[arg-type]
                             for (n, method, src), j in self.components.items()),
            scope=key.scope, utilisation=utilisation, uncertainty_rel=self.uncertainty_rel,
            notes=tuple(self.notes),
        )

    def describe(self, key: _Key, window_s: float) -> str:
        start = datetime.fromtimestamp(key.window_start_s, UTC)
        end = datetime.fromtimestamp(key.window_start_s + window_s, UTC)
        counts = " ".join(f"{k}={v:g}" for k, v in sorted(self.counters.items()))
        head = f"{key.detail}; " if key.detail else ""
        return (f"{head}serving aggregate: {self.requests} request(s) in "
                f"[{start:%Y-%m-%dT%H:%M:%S}Z, {end:%Y-%m-%dT%H:%M:%S}Z)"
                + (f"; {counts}" if counts else "")
                + "; wall_s and energy are sums over the requests; per-request figures are in "
                "each response")


class ServingBook:
    """Sums serving measurements per key and clock window; appends one footprint per window.

    ``window_s``: window length in seconds (aligned to the Unix epoch, so minutes start at :00).
    ``clock``: seconds since the epoch (tests pass a fake one). ``flush_every_s``: how often the
    background flusher looks for closed windows (None: no thread; call :meth:`flush`).
    """

    def __init__(self, ledger: Ledger, window_s: float = DEFAULT_WINDOW_S, *,
                 clock: Callable[[], float] = time.time,
                 flush_every_s: float | None = 5.0) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise DataError(f"window_s must be a positive number of seconds, got {window_s!r}")
        self.ledger = ledger
        self.window_s = float(window_s)
        self.clock = clock
        self.flush_every_s = flush_every_s
        self._open: dict[_Key, _Window] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()  # the running flusher's; a new one per flusher
        self._thread: threading.Thread | None = None
        atexit.register(_close_weakly, weakref.ref(self))

    def add(self, *, app: str, run_id: str, measurement: Measurement, intensity: Intensity,
            pue: float = 1.0, phase: str = "serve", detail: str = "",
            counters: Mapping[str, float] | None = None) -> str:
        """Book one request; returns the record id its window will be appended under.

        ``detail`` is part of the key (e.g. the served model's name); ``counters`` are summed
        (e.g. ``{"prompt_tokens": 12, "completion_tokens": 30}``) and written to the notes.
        """
        if measurement.energy_j < 0 or not math.isfinite(measurement.energy_j):
            raise DataError(f"measurement {measurement.name!r} has energy "
                            f"{measurement.energy_j} J; refusing it")
        now = self.clock()
        key = _Key(app, run_id, phase, measurement.name, measurement.unit, measurement.method,
                   measurement.scope, intensity, float(pue), detail,
                   math.floor(now / self.window_s) * self.window_s)
        with self._lock:
            window = self._open.setdefault(key, _Window())
            window.add(measurement, counters or {})
            record_id = window.record_id
        self._start_flusher()
        return record_id

    def pending_requests(self) -> int:
        """Requests booked in windows not yet appended to the ledger."""
        with self._lock:
            return sum(w.requests for w in self._open.values())

    def flush(self, *, everything: bool = False) -> list[FootprintRecord]:
        """Append every closed window (all windows with ``everything``); returns the records."""
        now = self.clock()
        with self._lock:
            due = [k for k in self._open
                   if everything or k.window_start_s + self.window_s <= now]
            windows = [(k, self._open.pop(k)) for k in due]
        records = []
        for i, (key, window) in enumerate(windows):
            try:
                records.append(self.ledger.record_footprint(
                    app=key.app, run_id=key.run_id, phase=key.phase,
                    measurement=window.measurement(key), intensity=key.intensity, pue=key.pue,
                    notes=window.describe(key, self.window_s), record_id=window.record_id))
            except GreenstackError:
                with self._lock:  # keep what could not be written; the next flush retries
                    for k, w in windows[i:]:
                        self._open.setdefault(k, w)
                raise
        return records

    def close(self) -> list[FootprintRecord]:
        """Stop the flusher and append every open window (a later add() starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        return self.flush(everything=True)

    def _start_flusher(self) -> None:
        if self.flush_every_s is None:
            return
        with self._lock:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._flush_loop,
                                                args=(self.flush_every_s, self._stop),
                                                daemon=True, name="greenstack-serving-book")
                self._thread.start()

    def _flush_loop(self, every_s: float, stop: threading.Event) -> None:
        # Runs while windows are open; the next add() starts it again (no idle thread per book).
        while not stop.wait(every_s):
            try:
                self.flush()
            except GreenstackError as e:  # the ledger is down: keep the windows, retry later
                log.warning("serving footprints not yet written (will retry): %s", e)
            with self._lock:
                if not self._open and self._thread is threading.current_thread():
                    self._thread = None
                    return


def _close_weakly(ref: weakref.ReferenceType[ServingBook]) -> None:
    book = ref()
    if book is not None:
        try:
            book.close()
        except GreenstackError as e:  # at interpreter exit there is no caller left to tell
            log.error("serving footprints of the open window were lost: %s", e)


_BOOKS_LOCK = threading.Lock()


def serving_book(ledger: Ledger) -> ServingBook:
    """The one :class:`ServingBook` (one-minute windows) of ``ledger`` in this process; it lives
    as long as the ledger object."""
    with _BOOKS_LOCK:
        book: ServingBook | None = getattr(ledger, "_serving_book", None)
        if book is None:
            book = ServingBook(ledger)
            ledger._serving_book = book  # type: ignore[attr-defined]
        return book
