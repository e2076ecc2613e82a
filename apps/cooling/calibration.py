"""Is the zone model right? Calibrate the ISO 13790 5R1C zone (:mod:`apps.cooling.office`) on the
first part of a building summer and score it on the rest with ASHRAE Guideline 14's hourly
statistics.

Data: the CityLearn 2023 phase 3.1 building (``data/building``, 1 Jun-31 Aug, hourly): the model
is driven by the recorded outdoor temperature, solar irradiance (direct + diffuse, as given),
occupants (75 W sensible each, as the office model) and non-shiftable electric load (a fitted
share of it becomes internal heat), under the building's recorded cooling setpoints, and
compared with the recorded cooling demand (kWh thermal per hour) and indoor temperature.

Fitted (on 1 Jun-15 Jul): floor area (the 5R1C conductances and capacities scale with it), the
ISO 13790 mass class, an effective solar aperture (m2), the share of the non-shiftable load that
heats the zone, infiltration (air changes per hour) and the opaque-wall U-value. Scored on 16
Jul-31 Aug, the model running on from the fitted part without refitting.

Guideline 14-2014 (calibrated simulation, hourly data): CV(RMSE) <= 30 % and |NMBE| <= 10 %,
CV(RMSE) = sqrt(sum((m - s)^2) / (n - p)) / mean(m), NMBE = sum(m - s) / ((n - p) mean(m)), with
p = 1 as the guideline's calibrated-simulation form uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.cooling.office import (
    MASS_CLASSES,
    RHO_C_AIR_J_M3K,
    OfficeDrivers,
    OfficeParams,
    OfficeZone,
)
from core.errors import DataError

PREFIX = "citylearn_2023_phase_3_1"
SPLIT_HOUR = 45 * 24  # 1 Jun + 45 days = 16 Jul: first hour of the scored part
PEOPLE_SENSIBLE_W = OfficeParams().people_sensible_w
HEIGHT_M = 2.7
GUIDELINE_14 = {"cv_rmse_pct": 30.0, "nmbe_pct": 10.0}  # hourly calibration criteria


@dataclass(frozen=True)
class BuildingSummer:
    """Hourly arrays of the calibration building."""

    temp_out_c: np.ndarray
    solar_w_m2: np.ndarray
    occupants: np.ndarray
    plug_kw: np.ndarray
    setpoint_c: np.ndarray
    indoor_c: np.ndarray
    cooling_kw: np.ndarray


@dataclass(frozen=True)
class ZoneFit:
    """Fitted calibration parameters."""

    floor_area_m2: float
    mass_class: str
    solar_aperture_m2: float
    plug_gain_share: float
    infiltration_ach: float
    u_wall_w_m2k: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_building(folder: Path) -> BuildingSummer:
    """Read the CityLearn building and weather CSVs (gzipped) from ``folder``."""
    import pandas as pd

    b_path, w_path = folder / f"{PREFIX}_Building_1.csv.gz", folder / f"{PREFIX}_weather.csv.gz"
    if not b_path.is_file() or not w_path.is_file():
        raise DataError(f"calibration data missing: need {b_path.name} and {w_path.name} in {folder} "
                        "(shipped in data/building)")
    b, w = pd.read_csv(b_path), pd.read_csv(w_path)
    if len(b) != len(w) or len(b) <= SPLIT_HOUR:
        raise DataError(f"{folder}: building and weather rows differ or are too few ({len(b)}, {len(w)})")
    return BuildingSummer(
        temp_out_c=w["outdoor_dry_bulb_temperature"].to_numpy(float),
        solar_w_m2=(w["direct_solar_irradiance"] + w["diffuse_solar_irradiance"]).to_numpy(float),
        occupants=b["occupant_count"].to_numpy(float), plug_kw=b["non_shiftable_load"].to_numpy(float),
        setpoint_c=b["indoor_dry_bulb_temperature_cooling_set_point"].to_numpy(float),
        indoor_c=b["indoor_dry_bulb_temperature"].to_numpy(float),
        cooling_kw=b["cooling_demand"].to_numpy(float))


def simulate(fit: ZoneFit, data: BuildingSummer) -> tuple[np.ndarray, np.ndarray]:
    """(indoor temperature degC, cooling kW thermal) per hour under the recorded setpoints."""
    zone = OfficeZone(OfficeParams(floor_area_m2=fit.floor_area_m2, height_m=HEIGHT_M,
                                   mass_class=fit.mass_class, u_wall_w_m2k=fit.u_wall_w_m2k,
                                   heating_setpoint_occ_c=5.0, heating_setpoint_unocc_c=5.0,
                                   cooling_capacity_w_m2=400.0))
    n = len(data.temp_out_c)
    h_ve = RHO_C_AIR_J_M3K * fit.infiltration_ach * fit.floor_area_m2 * HEIGHT_M / 3600.0
    d = OfficeDrivers(data.temp_out_c, fit.plug_gain_share * data.plug_kw * 1000.0
                      + data.occupants * PEOPLE_SENSIBLE_W, fit.solar_aperture_m2 * data.solar_w_m2,
                      np.ones(n, bool), np.full(n, h_ve))
    zone.reset(float(data.indoor_c[0]))
    temp, cool = np.empty(n), np.empty(n)
    for k in range(n):
        out = zone.step(d, k, float(data.setpoint_c[k]), 3600.0)
        temp[k], cool[k] = out.temp_c, out.cooling_w / 1000.0
    return temp, cool


def guideline14(measured: np.ndarray, simulated: np.ndarray, p: int = 1) -> dict[str, float]:
    """CV(RMSE) and NMBE in percent (ASHRAE Guideline 14-2014)."""
    m, s = np.asarray(measured, float), np.asarray(simulated, float)
    mean, dof = float(m.mean()), len(m) - p
    return {"cv_rmse_pct": 100.0 * math.sqrt(float(((m - s) ** 2).sum()) / dof) / mean,
            "nmbe_pct": 100.0 * float((m - s).sum()) / (dof * mean), "n_hours": len(m),
            "mean_measured": mean}


_NAMES = ("floor_area_m2", "solar_aperture_m2", "plug_gain_share", "infiltration_ach", "u_wall_w_m2k")
_START = np.log([150.0, 4.0, 0.8, 0.3, 0.7])


def _fit_of(x: np.ndarray, mass: str) -> ZoneFit:
    v = np.exp(x)
    return ZoneFit(floor_area_m2=float(v[0]), mass_class=mass, solar_aperture_m2=float(v[1]),
                   plug_gain_share=float(min(v[2], 1.0)), infiltration_ach=float(v[3]),
                   u_wall_w_m2k=float(v[4]))


def _loss(x: np.ndarray, mass: str, train: BuildingSummer) -> float:
    temp, cool = simulate(_fit_of(x, mass), train)
    m = train.cooling_kw
    return float(((m - cool) ** 2).mean() / m.mean() ** 2 + 0.25 * ((train.indoor_c - temp) ** 2).mean())


def _part(data: BuildingSummer, sl: slice) -> BuildingSummer:
    return BuildingSummer(**{k: v[sl] for k, v in asdict(data).items()})


def calibrate(folder: Path, max_evals: int = 300) -> dict[str, Any]:
    """Fit on 1 Jun-15 Jul, score on 16 Jul-31 Aug; returns the fit and Guideline 14 metrics."""
    from scipy.optimize import minimize

    data = load_building(folder)
    train = _part(data, slice(0, SPLIT_HOUR))
    best: tuple[float, ZoneFit] | None = None
    for mass in MASS_CLASSES:
        res = minimize(_loss, _START, args=(mass, train), method="Nelder-Mead",
                       options={"maxfev": max_evals, "xatol": 1e-3, "fatol": 1e-6})
        if best is None or res.fun < best[0]:
            best = (float(res.fun), _fit_of(res.x, mass))
    assert best is not None
    fit = best[1]
    temp, cool = simulate(fit, data)
    test = slice(SPLIT_HOUR, None)
    scored = {"cooling_demand": guideline14(data.cooling_kw[test], cool[test]),
              "cooling_demand_fit_part": guideline14(data.cooling_kw[:SPLIT_HOUR], cool[:SPLIT_HOUR]),
              "indoor_temperature": guideline14(data.indoor_c[test], temp[test])}
    scored["indoor_temperature"]["rmse_k"] = float(np.sqrt(((data.indoor_c[test] - temp[test]) ** 2).mean()))
    cd = scored["cooling_demand"]
    return {"fit": fit.to_dict(), "fitted_on": "1 Jun-15 Jul (1 080 h)",
            "scored_on": f"16 Jul-31 Aug ({len(data.cooling_kw) - SPLIT_HOUR} h)",
            "metrics": scored, "criteria": dict(GUIDELINE_14),
            "meets_guideline_14": bool(cd["cv_rmse_pct"] <= GUIDELINE_14["cv_rmse_pct"]
                                       and abs(cd["nmbe_pct"]) <= GUIDELINE_14["nmbe_pct"]),
            "data": f"{folder.name}/{PREFIX}_*.csv.gz (CityLearn 2023 phase 3.1, MIT)",
            "method": "simulated vs recorded hourly cooling demand and indoor temperature; "
                      "ASHRAE Guideline 14-2014 CV(RMSE), NMBE with p = 1"}


def calibration_run(store: Any, key_of: Any, folder: Path, force: bool,
                    max_evals: int = 300) -> dict[str, Any]:
    """:func:`calibrate` as a reusable run (metered, reused until the data or code changes);
    says why when the building data is not there."""
    from core.runs import fingerprint_paths

    files = [folder / f"{PREFIX}_Building_1.csv.gz", folder / f"{PREFIX}_weather.csv.gz"]
    if not all(f.is_file() for f in files):
        return {"skipped": f"no calibration data in {folder} (ship data/building)"}

    def fn(artifacts: Path) -> dict[str, Any]:
        return calibrate(folder, max_evals)

    key = key_of({"stage": "calibration", "data": fingerprint_paths(files), "max_evals": max_evals})
    return dict(store.get_or_run(key, fn, app="cooling", phase="evaluate", force=force).outputs)
