"""Bounded admission for the model: backpressure instead of unbounded waiting.

At most ``capacity`` requests may be in the system. With ``concurrent=True`` (the service, whose
batch engine decodes admitted requests together) they all run; otherwise one holds the model slot
and the rest wait. A request beyond capacity is refused at once with a Retry-After estimate from
the recent mean service time. Utilisation = busy seconds / seconds since start (summed over
requests, so it can exceed the engine's own busy share when requests overlap; that one is in
``BatchEngine.stats``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import GreenstackError


class QueueFullError(GreenstackError):
    """The request queue is full; retry after ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: float, capacity: int) -> None:
        super().__init__(
            f"the assistant is busy ({capacity} requests in flight); retry after "
            f"{retry_after_s:.0f} s or lower your request rate"
        )
        self.retry_after_s = retry_after_s
        self.capacity = capacity


@dataclass(frozen=True)
class QueueStats:
    """Snapshot: requests in system, capacity, refused count, utilisation (0..1)."""

    in_system: int
    capacity: int
    served: int
    refused: int
    utilisation: float
    mean_service_s: float


class AdmissionQueue:
    """Counts requests in the system and serialises generation (one model, one at a time)."""

    def __init__(self, capacity: int = 8, *, concurrent: bool = False) -> None:
        if capacity < 1:
            raise ValueError("queue capacity must be >= 1")
        self.capacity = capacity
        # concurrent: admitted requests run together (the batch engine interleaves them);
        # otherwise one holds the model slot at a time.
        self.concurrent = concurrent
        self._lock = threading.Lock()
        self._slot = threading.Lock()  # the model runs one generation at a time
        self._in_system = 0
        self._served = 0
        self._refused = 0
        self._busy_s = 0.0
        self._started = time.monotonic()
        self._recent: deque[float] = deque(maxlen=32)

    def _retry_after_s(self) -> float:
        mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        return max(1.0, mean * self._in_system)

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place in the queue, then the model slot; raises QueueFullError when full."""
        with self._lock:
            if self._in_system >= self.capacity:
                self._refused += 1
                raise QueueFullError(self._retry_after_s(), self.capacity)
            self._in_system += 1
        try:
            with contextlib.nullcontext() if self.concurrent else self._slot:
                start = time.monotonic()
                try:
                    yield
                finally:
                    busy = time.monotonic() - start
                    with self._lock:
                        self._busy_s += busy
                        self._recent.append(busy)
                        self._served += 1
        finally:
            with self._lock:
                self._in_system -= 1

    def stats(self) -> QueueStats:
        """Current counters."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            mean = sum(self._recent) / len(self._recent) if self._recent else 0.0
            return QueueStats(self._in_system, self.capacity, self._served, self._refused,
                              min(self._busy_s / elapsed, 1.0), mean)
