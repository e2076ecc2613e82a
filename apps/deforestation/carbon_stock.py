"""CO2 represented by forest loss: Σ AGB × (1 + root:shoot) × carbon fraction × 44/12.

Biomass comes from a raster (Mg dry matter per ha, nodata masked) or, where there is none or it is
nodata, from the IPCC 2006 tropical defaults by continent. Each factor keeps its value, low–high
range and source, and every result states which route produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.errors import ConfigError

CO2_PER_C = 44.0 / 12.0  # molar mass ratio CO2 : C


@dataclass(frozen=True)
class Factor:
    """A stated factor with its range and source."""

    value: float
    low: float
    high: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


_IPCC_AGB = "IPCC 2006 GL AFOLU Vol. 4 Ch. 4 Table 4.7, tropical rain forest above-ground biomass"
# Mg dry matter per ha: value (range) for tropical rain forest, by continent.
IPCC_AGB_T_PER_HA: dict[str, Factor] = {
    "africa": Factor(310.0, 130.0, 510.0, f"{_IPCC_AGB}, Africa"),
    "americas": Factor(300.0, 120.0, 400.0, f"{_IPCC_AGB}, North and South America"),
    "asia_continental": Factor(280.0, 120.0, 680.0, f"{_IPCC_AGB}, Asia (continental)"),
    "asia_insular": Factor(350.0, 280.0, 520.0, f"{_IPCC_AGB}, Asia (insular)"),
}
# IPCC gives a single value for tropical rain forest, no range; stated as such.
ROOT_TO_SHOOT = Factor(0.37, 0.37, 0.37,
                       "IPCC 2006 GL AFOLU Vol. 4 Ch. 4 Table 4.4, tropical rain forest (no range "
                       "given)")
CARBON_FRACTION = Factor(0.47, 0.44, 0.49,
                         "IPCC 2006 GL AFOLU Vol. 4 Ch. 4 Table 4.3, tropical and subtropical wood")


def default_agb(continent: str) -> Factor:
    """IPCC default above-ground biomass for ``continent``; ConfigError lists the choices."""
    if continent not in IPCC_AGB_T_PER_HA:
        raise ConfigError(f"unknown continent {continent!r}; use one of "
                          f"{', '.join(sorted(IPCC_AGB_T_PER_HA))}")
    return IPCC_AGB_T_PER_HA[continent]


@dataclass(frozen=True)
class Co2Range:
    """tCO2 with a low–high range."""

    central_t: float
    low_t: float
    high_t: float


@dataclass(frozen=True)
class BiomassSums:
    """Σ area × AGB over loss pixels (ha · Mg/ha = Mg dry matter), with its low/high bounds.

    ``raster_*`` covers pixels with raster biomass (no range known for the raster: low = high =
    central); ``default_*`` covers the rest at the IPCC default and its range.
    """

    raster_t: float = 0.0
    default_t: float = 0.0
    default_low_t: float = 0.0
    default_high_t: float = 0.0

    def __add__(self, other: BiomassSums) -> BiomassSums:
        return BiomassSums(self.raster_t + other.raster_t, self.default_t + other.default_t,
                           self.default_low_t + other.default_low_t,
                           self.default_high_t + other.default_high_t)


def co2_from_biomass(sums: BiomassSums, with_roots: bool) -> Co2Range:
    """tCO2 from biomass sums; low uses the low CF (and AGB), high the high ones."""
    r = ROOT_TO_SHOOT
    cf = CARBON_FRACTION
    root_c, root_l, root_h = (1 + r.value, 1 + r.low, 1 + r.high) if with_roots else (1, 1, 1)
    central = (sums.raster_t + sums.default_t) * root_c * cf.value * CO2_PER_C
    low = (sums.raster_t + sums.default_low_t) * root_l * cf.low * CO2_PER_C
    high = (sums.raster_t + sums.default_high_t) * root_h * cf.high * CO2_PER_C
    return Co2Range(central, low, high)
