"""The result types of energy measurement: :class:`ComponentEnergy` and :class:`Measurement`.

Every joule carries its method (how it was obtained) and source (which counter, which table row),
so a reader never has to guess whether a number was measured or modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import EnergyBackendError
from core.units import j_to_kwh

Method = Literal["counter", "power_sampled", "modelled", "user_forced"]

# Weakest wins when components are combined: a counter is exact up to the sensor's accuracy, a
# sampled power integral misses what happens between samples, a model is a model, and a figure a
# user typed in cannot be checked by us at all.
METHOD_RANK: dict[str, int] = {"counter": 0, "power_sampled": 1, "modelled": 2, "user_forced": 3}

# Relative uncertainty per method (1 sigma-ish, see docs/energy.md for the sources):
# RAPL package / NVML energy counters ~5 %; NVML power readings are specified to +/-5 % of draw
# plus sampling error between samples, so 10 %; TDP-share models are often off by 30-50 %.
METHOD_UNCERTAINTY_REL: dict[str, float] = {
    "counter": 0.05,
    "power_sampled": 0.10,
    "modelled": 0.40,
    "user_forced": 0.50,
}

# Component names starting with this prefix are whole-platform counters (RAPL psys) that already
# contain the package energy: reported, but not summed when package counters exist.
PSYS_PREFIX = "psys"
PACKAGE_PREFIX = "cpu_package"


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one hardware component over one window.

    ``name``: e.g. ``"cpu_package:0"``, ``"dram:0"``, ``"psys"``, ``"gpu:0"``, ``"cpu_model"``.
    ``energy_j``: joules (>= 0). ``method``: how it was obtained. ``source``: which counter or
    which table row / factor produced it.
    """

    name: str
    energy_j: float
    method: Method
    source: str

    def __post_init__(self) -> None:
        if not self.energy_j >= 0.0:  # also rejects NaN
            raise EnergyBackendError(
                f"component {self.name!r} has energy {self.energy_j!r} J; energy must be a "
                "finite number >= 0 (a counter that went back must be handled as a reset)"
            )
        if self.method not in METHOD_RANK:
            raise EnergyBackendError(
                f"component {self.name!r} has unknown method {self.method!r}; "
                f"use one of {sorted(METHOD_RANK)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "energy_j": self.energy_j,
            "method": self.method,
            "source": self.source,
        }


@dataclass(frozen=True)
class Measurement:
    """What one window measured.

    Times in seconds, energies in joules. ``cpu_s`` is process CPU time (user + system, including
    children the process waited for). ``scope`` is ``"machine"`` for hardware counters,
    ``"process"`` for the CPU/RAM model, ``"mixed"`` when both appear, ``"user"`` for a
    user-forced figure. ``utilisation`` = cpu_s / (wall_s x logical cores available).
    """

    name: str
    unit: str | None
    count: int
    start_unix_s: float
    wall_s: float
    cpu_s: float
    components: tuple[ComponentEnergy, ...]
    scope: str
    utilisation: float
    uncertainty_rel: float
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.components:
            raise EnergyBackendError(
                f"measurement {self.name!r} has no energy components; construct the Meter with "
                "at least one energy-producing backend (Meter() probes and always finds one)"
            )
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise EnergyBackendError(
                f"measurement {self.name!r}: count must be a non-negative int, got {self.count!r}"
            )
        if not (self.wall_s >= 0.0 and self.cpu_s >= 0.0):
            raise EnergyBackendError(
                f"measurement {self.name!r}: wall_s and cpu_s must be >= 0 "
                f"(got {self.wall_s!r}, {self.cpu_s!r})"
            )

    @property
    def energy_j(self) -> float:
        """Total joules: sum of components, psys left out when package counters exist."""
        has_package = any(c.name.startswith(PACKAGE_PREFIX) for c in self.components)
        return sum(
            c.energy_j
            for c in self.components
            if not (has_package and c.name.startswith(PSYS_PREFIX))
        )

    @property
    def energy_kwh(self) -> float:
        """Total energy in kWh."""
        return j_to_kwh(self.energy_j)

    @property
    def method(self) -> Method:
        """The weakest method among the components (counter < power_sampled < modelled < user)."""
        return max((c.method for c in self.components), key=METHOD_RANK.__getitem__)

    @property
    def j_per_unit(self) -> float | None:
        """Joules per functional unit, or None when no unit was counted."""
        return self.energy_j / self.count if self.count > 0 else None

    def component(self, name: str) -> ComponentEnergy | None:
        """The component called ``name``, or None."""
        return next((c for c in self.components if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, derived properties included."""
        return {
            "name": self.name,
            "unit": self.unit,
            "count": self.count,
            "start_unix_s": self.start_unix_s,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "energy_j": self.energy_j,
            "energy_kwh": self.energy_kwh,
            "method": self.method,
            "j_per_unit": self.j_per_unit,
            "scope": self.scope,
            "utilisation": self.utilisation,
            "uncertainty_rel": self.uncertainty_rel,
            "components": [c.to_dict() for c in self.components],
            "notes": list(self.notes),
        }

    @classmethod
    def user_forced(
        cls,
        name: str,
        energy_j: float,
        *,
        unit: str | None = None,
        count: int = 0,
        wall_s: float = 0.0,
        start_unix_s: float = 0.0,
        source: str = "user-supplied figure",
        uncertainty_rel: float | None = None,
        notes: tuple[str, ...] = (),
    ) -> Measurement:
        """A measurement from a figure the user supplies (e.g. a provider's meter reading)."""
        extra: tuple[str, ...] = ()
        if uncertainty_rel is None:
            uncertainty_rel = METHOD_UNCERTAINTY_REL["user_forced"]
            extra = (f"no uncertainty given for the user figure; {uncertainty_rel:.0%} assumed",)
        return cls(
            name=name,
            unit=unit,
            count=count,
            start_unix_s=start_unix_s,
            wall_s=wall_s,
            cpu_s=0.0,
            components=(ComponentEnergy("user_forced", float(energy_j), "user_forced", source),),
            scope="user",
            utilisation=0.0,
            uncertainty_rel=uncertainty_rel,
            notes=tuple(notes) + extra,
        )


def combined_uncertainty_rel(components: tuple[ComponentEnergy, ...]) -> float:
    """Energy-weighted relative uncertainty, errors taken as fully correlated (an upper bound)."""
    total_j = sum(c.energy_j for c in components)
    if total_j <= 0.0:
        return max((METHOD_UNCERTAINTY_REL[c.method] for c in components), default=0.0)
    return sum(c.energy_j * METHOD_UNCERTAINTY_REL[c.method] for c in components) / total_j


def combined_scope(scopes: set[str]) -> str:
    """``machine`` / ``process`` when all components agree, else ``mixed``."""
    return scopes.pop() if len(scopes) == 1 else "mixed"
