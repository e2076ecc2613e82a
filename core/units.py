"""Unit conversions, in one place. Names carry units: ``_j``, ``_kwh``, ``_g_per_kwh``, ``_kg``."""

from __future__ import annotations

J_PER_KWH = 3.6e6
MJ_PER_J = 1e3  # millijoules in one joule
UJ_PER_J = 1e6  # microjoules in one joule


def j_to_kwh(energy_j: float) -> float:
    """Joules → kilowatt-hours."""
    return energy_j / J_PER_KWH


def co2e_kg(energy_j: float, intensity_g_per_kwh: float, pue: float = 1.0) -> float:
    """Emissions in kgCO2e of ``energy_j`` joules at ``intensity_g_per_kwh``, times facility PUE."""
    return j_to_kwh(energy_j) * pue * intensity_g_per_kwh / 1000.0
