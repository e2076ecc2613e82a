"""Energy measurement: RAPL (powercap) → NVML → CPU/RAM model, behind one Meter.

``with Meter().window("train", unit="sample") as w: ...; w.count += n`` gives a frozen
:class:`Measurement` in ``w.measurement``. Importing this package reads no hardware and imports
nothing heavy (no pynvml, no numpy); probing happens on the first window. See docs/energy.md.
"""

from __future__ import annotations

from core.energy.backends.base import (
    ComponentSpec,
    EnergyBackend,
    NullBackend,
    ProbeEntry,
    ProbeReport,
)
from core.energy.measurement import ComponentEnergy, Measurement, Method
from core.energy.meter import Meter, NoMeasurementError, Window


def probe_report(**probe_options: object) -> ProbeReport:
    """Probe the machine once and describe which backends are used, unreadable or absent."""
    from core.energy.factory import probe

    result = probe(**probe_options)  # type: ignore[arg-type]
    for backend in result.backends:
        backend.close()
    return result.report


__all__ = [
    "ComponentEnergy",
    "ComponentSpec",
    "EnergyBackend",
    "Measurement",
    "Meter",
    "Method",
    "NoMeasurementError",
    "NullBackend",
    "ProbeEntry",
    "ProbeReport",
    "Window",
    "probe_report",
]
