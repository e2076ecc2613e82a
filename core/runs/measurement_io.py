"""Rebuild a core.energy Measurement from its ``to_dict()`` form (stored run records)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.energy import Measurement


def measurement_from_dict(d: dict[str, Any]) -> Measurement:
    """Inverse of ``Measurement.to_dict()`` (derived fields are recomputed, not read)."""
    from core.energy import ComponentEnergy, Measurement

    return Measurement(
        name=d["name"], unit=d["unit"], count=int(d["count"]),
        start_unix_s=float(d["start_unix_s"]), wall_s=float(d["wall_s"]),
        cpu_s=float(d["cpu_s"]),
        components=tuple(ComponentEnergy(c["name"], float(c["energy_j"]), c["method"], c["source"])
                         for c in d["components"]),
        scope=d["scope"], utilisation=float(d["utilisation"]),
        uncertainty_rel=float(d["uncertainty_rel"]), notes=tuple(d.get("notes", ())),
    )


def window_measurement(window: Any) -> Measurement:
    """``window.measurement`` after the ``with`` block; an error if the meter did not set it."""
    from core.errors import EnergyBackendError

    m = window.measurement
    if m is None:
        raise EnergyBackendError(f"meter window {window.name!r} ended without a measurement; "
                                 "read it after the with-block")
    return m  # type: ignore[no-any-return]
