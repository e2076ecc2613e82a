"""Grid carbon intensity with provenance: annual table, hourly CSV, live provider, SCI, scheduling.

Importing this package stays light: pandas and httpx load only when an hourly series or a live
provider is used.
"""

from core.carbon.annual import AnnualSource, AnnualTable, ZoneInfo, zones
from core.carbon.hourly import GapReport, HourlySeries
from core.carbon.intensity import Intensity, IntensitySource
from core.carbon.live import LiveProvider
from core.carbon.resolve import resolve_source
from core.carbon.schedule import ScheduleResult, best_start_window
from core.carbon.sci import HardwareSpec, SciResult, embodied_kg, get_hardware, hardware_table, sci

__all__ = [
    "AnnualSource",
    "AnnualTable",
    "GapReport",
    "HardwareSpec",
    "HourlySeries",
    "Intensity",
    "IntensitySource",
    "LiveProvider",
    "ScheduleResult",
    "SciResult",
    "ZoneInfo",
    "best_start_window",
    "embodied_kg",
    "get_hardware",
    "hardware_table",
    "resolve_source",
    "sci",
    "zones",
]
