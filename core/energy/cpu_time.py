"""Process CPU time and the cores this process may use: read by the meter and the CPU model.

A module of its own so the CPU-model backend does not import the meter (which imports the
factory, which imports the backends).
"""

from __future__ import annotations

import os
import time

try:
    import resource
except ImportError:  # not Unix
    resource = None  # type: ignore[assignment]


def process_cpu_s() -> float:
    """User + system CPU seconds of this process and of children it has waited for."""
    if resource is None:  # Windows: os.times() has no children fields worth reading
        return time.process_time()
    # getrusage has microsecond resolution; os.times() ticks at 10 ms.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def available_cores() -> int:
    """Logical CPUs this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
