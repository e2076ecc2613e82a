"""Software Carbon Intensity (Green Software Foundation SCI, ISO/IEC 21031:2024).

``SCI = (E·I + M) / R`` with E the energy (kWh, times the facility PUE), I the grid intensity
(gCO2e/kWh), M the embodied emissions share of the hardware for the run and R the number of
functional units. Embodied share: ``M = TE · (TiR/EL) · (RR/ToR)`` — total embodied emissions of
the device TE, time reserved TiR over expected lifetime EL, resources reserved RR over total ToR.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import DataError

HARDWARE_PATH = Path(__file__).with_name("hardware_embodied.csv")
HOURS_PER_YEAR = 365.25 * 24


@dataclass(frozen=True)
class HardwareSpec:
    """A device's total embodied emissions (kgCO2e) and expected lifetime, with the source."""

    name: str
    embodied_kg: float
    lifetime_years: float
    source: str
    description: str = ""

    @property
    def lifetime_h(self) -> float:
        return self.lifetime_years * HOURS_PER_YEAR


@dataclass(frozen=True)
class SciResult:
    """SCI score in gCO2e per functional unit, with its parts (kg) and inputs."""

    sci_g_per_unit: float
    operational_kg: float
    embodied_kg: float
    total_kg: float
    energy_kwh: float
    intensity_g_per_kwh: float
    pue: float
    functional_units: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sci(
    energy_kwh: float,
    intensity_g_per_kwh: float,
    embodied_kg: float,
    functional_units: float,
    *,
    pue: float = 1.0,
) -> SciResult:
    """SCI = (E·PUE·I + M) / R in gCO2e per unit. PUE is explicit (default 1.0: IT energy only)."""
    _finite_nonneg(energy_kwh=energy_kwh, intensity_g_per_kwh=intensity_g_per_kwh,
                   embodied_kg=embodied_kg)  # fmt: skip
    if not math.isfinite(functional_units) or functional_units <= 0:
        raise DataError(f"functional_units must be > 0 (got {functional_units}); count the units served")
    if not math.isfinite(pue) or pue < 1.0:
        raise DataError(f"pue must be >= 1.0 (got {pue}); 1.0 means IT energy only")
    operational_kg = energy_kwh * pue * intensity_g_per_kwh / 1000.0
    total_kg = operational_kg + embodied_kg
    return SciResult(
        sci_g_per_unit=total_kg * 1000.0 / functional_units,
        operational_kg=operational_kg,
        embodied_kg=embodied_kg,
        total_kg=total_kg,
        energy_kwh=energy_kwh,
        intensity_g_per_kwh=intensity_g_per_kwh,
        pue=pue,
        functional_units=functional_units,
    )


def embodied_kg(
    hardware: HardwareSpec | str,
    duration_h: float,
    *,
    resources_reserved: float = 1.0,
    resources_total: float = 1.0,
) -> float:
    """Embodied share M = TE · (TiR/EL) · (RR/ToR) in kgCO2e for ``duration_h`` hours of use.

    ``hardware`` is a :class:`HardwareSpec` or a name in ``hardware_embodied.csv``; RR/ToR is the
    share of the device reserved (e.g. 4 of 64 cores → 4, 64). Default: the whole device.
    """
    spec = hardware if isinstance(hardware, HardwareSpec) else get_hardware(hardware)
    _finite_nonneg(duration_h=duration_h, resources_reserved=resources_reserved)
    if resources_total <= 0 or resources_reserved > resources_total:
        raise DataError(
            f"resources_reserved ({resources_reserved}) must be within resources_total "
            f"({resources_total}) and resources_total must be > 0"
        )
    return spec.embodied_kg * (duration_h / spec.lifetime_h) * (resources_reserved / resources_total)


def hardware_table() -> dict[str, HardwareSpec]:
    """The shipped hardware table by name (sources in the ``source`` field)."""
    return dict(_load_hardware())


def get_hardware(name: str) -> HardwareSpec:
    table = _load_hardware()
    if name not in table:
        raise DataError(
            f"unknown hardware {name!r}; known: {', '.join(sorted(table))}. "
            "Pass a HardwareSpec(name, embodied_kg, lifetime_years, source) for other devices"
        )
    return table[name]


@lru_cache(maxsize=1)
def _load_hardware() -> dict[str, HardwareSpec]:
    with HARDWARE_PATH.open(newline="", encoding="utf-8") as fh:
        return {
            row["name"]: HardwareSpec(
                name=row["name"],
                embodied_kg=float(row["embodied_kg"]),
                lifetime_years=float(row["lifetime_years"]),
                source=row["source"],
                description=row["description"],
            )
            for row in csv.DictReader(fh)
        }


def _finite_nonneg(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise DataError(f"{name} must be a finite number >= 0 (got {value})")
