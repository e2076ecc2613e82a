"""A scenario = one building + one weather year + one grid year on a 15-minute grid.

Scenarios are cached per (building kind, weather path, grid path, step) because building one
reads two files and computes solar geometry (~0.2 s); environments reuse them across resets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.cooling.datahall import DataHall
from apps.cooling.grid import GridYear, load_grid
from apps.cooling.office import OfficeZone
from apps.cooling.weather import WeatherYear, read_weather

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILDINGS = ("office", "datahall")


@dataclass(frozen=True)
class ScenarioSpec:
    """Which files and building make a scenario (hashable, JSON-friendly)."""

    weather: str
    grid: str
    building: str = "office"

    @property
    def label(self) -> str:
        return f"{Path(self.weather).name.split('.')[0]}+{Path(self.grid).name.split('_')[0]}"


@dataclass(frozen=True)
class Scenario:
    """Per-step arrays (length n_steps = 8760 x steps_per_hour) plus the source objects."""

    spec: ScenarioSpec
    weather: WeatherYear
    grid: GridYear
    dt_s: float
    drivers: Any  # OfficeDrivers | DataHallDrivers
    floor_area_m2: float
    temp_out_c: np.ndarray
    ci_g_per_kwh: np.ndarray
    ci_marginal_g_per_kwh: np.ndarray
    price_usd_per_kwh: np.ndarray
    dr_event: np.ndarray
    occupied: np.ndarray
    hour_of_day: np.ndarray  # local standard time, fractional hours
    day_of_year: np.ndarray  # 0-based

    @property
    def steps_per_hour(self) -> int:
        return int(round(3600.0 / self.dt_s))

    @property
    def n_steps(self) -> int:
        return len(self.temp_out_c)


def make_building(kind: str) -> OfficeZone | DataHall:
    """A fresh building simulator of ``kind`` ("office" or "datahall")."""
    if kind == "office":
        return OfficeZone()
    if kind == "datahall":
        return DataHall()
    raise ValueError(f"unknown building {kind!r}; use one of {BUILDINGS}")


@functools.lru_cache(maxsize=32)
def build_scenario(spec: ScenarioSpec, dt_s: float = 900.0) -> Scenario:
    """Read the files of ``spec`` and lay every signal on the ``dt_s`` grid."""
    if 3600.0 % dt_s:
        raise ValueError(f"dt_s={dt_s} must divide one hour (e.g. 900 for 15 minutes)")
    weather = read_weather(spec.weather)
    grid = load_grid(spec.grid, weather)
    building = make_building(spec.building)
    drivers = building.drivers(weather, dt_s)
    sph = int(round(3600.0 / dt_s))
    n = 8760 * sph
    step_h = np.arange(n) / sph
    return Scenario(
        spec=spec, weather=weather, grid=grid, dt_s=dt_s, drivers=drivers,
        floor_area_m2=building.p.floor_area_m2, temp_out_c=drivers.temp_out_c,
        ci_g_per_kwh=np.repeat(grid.ci_avg_g_per_kwh, sph),
        ci_marginal_g_per_kwh=np.repeat(grid.ci_marginal_g_per_kwh, sph),
        price_usd_per_kwh=np.repeat(grid.price_usd_per_kwh, sph),
        dr_event=np.repeat(grid.dr_event, sph), occupied=np.asarray(drivers.occupied, bool),
        hour_of_day=step_h % 24.0, day_of_year=(step_h // 24).astype(int),
    )


def data_path(*parts: str, data_dir: Path | None = None) -> Path:
    """A shipped data file (``data/<parts>``), relative to ``data_dir`` or the repository."""
    return (data_dir or PROJECT_ROOT / "data").joinpath(*parts)


# Which weather/grid pairs train and which are held out. "default": train on Phoenix (hot desert)
# with ERCOT (+ CAISO for the agents), hold out three other climates and grids. "desert-held-out":
# train on Miami (hot humid) and Greensboro (mixed humid) with ERCOT and CAISO, hold out four
# climates and grids including Phoenix (the only hot-desert weather shipped) with BPA's grid.
SPLITS: dict[str, dict[str, tuple]] = {
    "default": {
        "train": ("USA_AZ_Phoenix-Sky.Harbor.epw.gz", "ERCO_NG_avgCI_2022.csv.gz"),
        "extra_weather": (),
        "held_out": (("USA_TX_Dallas-Fort.Worth.epw.gz", "MISO_NG_avgCI_2022.csv.gz"),
                     ("USA_NY_New.York-Kennedy.epw.gz", "NYIS_NG_avgCI_2022.csv.gz"),
                     ("USA_IL_Chicago.OHare.epw.gz", "PJM_NG_avgCI_2022.csv.gz")),
    },
    "desert-held-out": {
        "train": ("12839.tm2.gz", "ERCO_NG_avgCI_2022.csv.gz"),
        "extra_weather": ("723170TYA.CSV.gz",),
        "held_out": (("USA_AZ_Phoenix-Sky.Harbor.epw.gz", "BPAT_NG_avgCI_2022.csv.gz"),
                     ("USA_TX_Dallas-Fort.Worth.epw.gz", "MISO_NG_avgCI_2022.csv.gz"),
                     ("USA_NY_New.York-Kennedy.epw.gz", "NYIS_NG_avgCI_2022.csv.gz"),
                     ("USA_IL_Chicago.OHare.epw.gz", "PJM_NG_avgCI_2022.csv.gz")),
    },
}


def _split(name: str) -> dict[str, tuple]:
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; use one of {sorted(SPLITS)}")
    return SPLITS[name]


def default_train_spec(building: str = "office", data_dir: Path | None = None,
                       split: str = "default") -> ScenarioSpec:
    """Training pair (default: Phoenix TMYx weather with ERCOT 2022 grid intensity)."""
    w, g = _split(split)["train"]
    return ScenarioSpec(str(data_path("weather", w, data_dir=data_dir)),
                        str(data_path("grid", g, data_dir=data_dir)), building)


def extra_train_weather(split: str = "default") -> tuple[str, ...]:
    """More training weather files of the split (each paired with every training grid)."""
    return tuple(_split(split)["extra_weather"])


def held_out_specs(building: str = "office", data_dir: Path | None = None,
                   split: str = "default") -> tuple[ScenarioSpec, ...]:
    """Evaluation pairs the agent never saw: other climates, other balancing authorities."""
    return tuple(ScenarioSpec(str(data_path("weather", w, data_dir=data_dir)),
                              str(data_path("grid", g, data_dir=data_dir)), building)
                 for w, g in _split(split)["held_out"])
