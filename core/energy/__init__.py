"""Energy measurement: RAPL (powercap) → NVML → CPU/RAM model, behind one Meter.

``with Meter().window("train", unit="sample") as w: ...; w.count += n`` gives a frozen
:class:`Measurement` in ``w.measurement``. Importing this package reads no hardware and imports
nothing heavy (no pynvml, no numpy); the public names load on first use (PEP 562) and the
hardware is probed on the first window. See docs/energy.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.energy.backends.base import (
        ComponentSpec,
        EnergyBackend,
        NullBackend,
        ProbeEntry,
        ProbeReport,
    )
    from core.energy.measurement import ComponentEnergy, Measurement, Method
    from core.energy.meter import Meter, NoMeasurementError, Window

# public name → defining module; resolved lazily so `import core.energy` costs ~nothing
_EXPORTS = {
    "ComponentEnergy": "core.energy.measurement",
    "Measurement": "core.energy.measurement",
    "Method": "core.energy.measurement",
    "ComponentSpec": "core.energy.backends.base",
    "EnergyBackend": "core.energy.backends.base",
    "NullBackend": "core.energy.backends.base",
    "ProbeEntry": "core.energy.backends.base",
    "ProbeReport": "core.energy.backends.base",
    "Meter": "core.energy.meter",
    "NoMeasurementError": "core.energy.meter",
    "Window": "core.energy.meter",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core.energy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def probe_report(**probe_options: Any) -> ProbeReport:
    """Probe the machine once and describe which backends are used, unreadable or absent."""
    from core.energy.factory import probe

    result = probe(**probe_options)
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
