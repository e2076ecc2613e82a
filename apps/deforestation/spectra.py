"""Per-band reflectance of the simulator's surface classes, from published spectral libraries.

Values are band-averaged reflectances (0–1) read off published library spectra at the centres of
the Sentinel-2 bands and rounded to 0.005; they are typical values, not exact extracts of one
library sample, and the simulator varies them (texture, per-field and per-date gains) around
these centres. Sources:

- forest, grass/pasture, crops: ECOSTRESS spectral library v1 (Meerdink et al. 2019, Remote
  Sensing of Environment 230:111196), green broadleaf vegetation and grass spectra; tropical
  closed-canopy values as in Asner 1998 (Remote Sensing of Environment 64:234–253, Fig. 6:
  canopy red ≈ 0.02–0.03, NIR ≈ 0.3).
- red tropical soil (latosol) and burnt slash: USGS Spectral Library v7 (Kokaly et al. 2017,
  USGS Data Series 1035, doi:10.3133/ds1035), oxisol / charcoal-ash spectra.
- turbid river water: USGS Spectral Library v7, sediment-laden water.
- built-up (concrete/asphalt): ECOSTRESS library, manmade materials.
- cloud: thick-cloud top-of-atmosphere reflectance as in the Sentinel-2 cloud-masking studies
  (Baetens et al. 2019, Remote Sensing 11:433): ≈ 0.4–0.5 flat in the visible.

Haze is modelled as an additive path reflectance falling with wavelength (Rayleigh/Ångström,
λ^-1.5 here, so blue > green > red). Landsat-8 is derived from these with the HLS band-pass
adjustment (Claverie et al. 2018, Remote Sensing of Environment 219:145–161, Table 4 slopes).
"""

from __future__ import annotations

BANDS: tuple[str, ...] = ("blue", "green", "red", "nir", "swir1", "swir2")
CENTRE_NM: dict[str, float] = {"blue": 490, "green": 560, "red": 665, "nir": 842,
                               "swir1": 1610, "swir2": 2190}

REFLECTANCE: dict[str, tuple[float, ...]] = {
    #            blue   green  red    nir    swir1  swir2
    "forest":   (0.025, 0.045, 0.025, 0.300, 0.150, 0.070),
    "crop":     (0.040, 0.080, 0.050, 0.380, 0.220, 0.110),
    "pasture":  (0.050, 0.080, 0.080, 0.280, 0.280, 0.180),
    "soil":     (0.070, 0.110, 0.170, 0.240, 0.330, 0.270),
    "slash":    (0.040, 0.050, 0.060, 0.120, 0.180, 0.160),
    "water":    (0.060, 0.070, 0.060, 0.030, 0.010, 0.005),
    "built":    (0.100, 0.120, 0.140, 0.180, 0.220, 0.200),
    "cloud":    (0.450, 0.450, 0.460, 0.500, 0.350, 0.220),
}
FOREST_CLASSES = frozenset({"forest"})
SURFACES: tuple[str, ...] = tuple(k for k in REFLECTANCE if k != "cloud")

# HLS Sentinel-2 → Landsat-8 OLI band-pass adjustment slopes (Claverie et al. 2018, Table 4).
L8_FROM_S2_SLOPE: dict[str, float] = {"blue": 0.9778, "green": 1.0053, "red": 0.9765,
                                      "nir": 0.9983, "swir1": 0.9987, "swir2": 1.003}


def reflectance(surface: str, bands: tuple[str, ...]) -> tuple[float, ...]:
    """Reflectance of ``surface`` in each of ``bands`` (canonical names)."""
    table = REFLECTANCE[surface]
    return tuple(table[BANDS.index(b)] for b in bands)


def haze_profile(bands: tuple[str, ...]) -> tuple[float, ...]:
    """Relative haze path reflectance per band, 1.0 at blue (Ångström exponent 1.5)."""
    return tuple((CENTRE_NM["blue"] / CENTRE_NM[b]) ** 1.5 for b in bands)
