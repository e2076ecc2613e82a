"""Shared physics helpers: chiller COP as a Carnot fraction, wet bulb, facade irradiance."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from apps.cooling.weather import WeatherYear

KELVIN = 273.15


class StepOut(NamedTuple):
    """One simulation step's result (NamedTuple: the loop creates 35 040 of these per year)."""

    temp_c: float  # controlled temperature: office air / data-hall server inlet, degC
    operative_c: float  # office operative temperature (air for the data hall), degC
    cooling_w: float  # thermal cooling delivered, W
    heating_w: float  # thermal heating delivered, W
    elec_w: float  # total HVAC electricity (cooling, heating, fans, pumps), W
    cooling_elec_w: float  # electricity attributable to cooling, W
    cop: float  # chiller coefficient of performance this step
    occupied: bool
    free_cooling: float  # share of the cooling load met by the economiser, 0..1


def carnot_cop(evap_c: float, cond_c: float, carnot_fraction: float,
               cop_max: float = 10.0) -> float:
    """COP = fraction x T_evap / (T_cond - T_evap) (K), capped; the textbook second-law model
    (Gordon & Ng, *Cool Thermodynamics*, 2000), fraction 0.4-0.55 for real chillers."""
    lift = max(cond_c - evap_c, 3.0)  # avoid the singular no-lift case
    return min(carnot_fraction * (evap_c + KELVIN) / lift, cop_max)


def wet_bulb_c(temp_c: np.ndarray, rh_pct: np.ndarray) -> np.ndarray:
    """Wet-bulb temperature from dry bulb and RH at sea-level pressure, degC.

    Stull (2011), J. Appl. Meteor. Climatol. 50, 2267-2269, valid RH 5-99 %, T -20..50 degC.
    """
    t, rh = np.asarray(temp_c, float), np.clip(np.asarray(rh_pct, float), 5.0, 99.0)
    return (t * np.arctan(0.151977 * np.sqrt(rh + 8.313659)) + np.arctan(t + rh)
            - np.arctan(rh - 1.676331) + 0.00391838 * rh ** 1.5 * np.arctan(0.023101 * rh)
            - 4.686035)


def facade_irradiance_w_m2(weather: WeatherYear, azimuths_deg: tuple[float, ...]) -> np.ndarray:
    """Plane-of-array irradiance on vertical facades (isotropic sky, pvlib), shape (n_az, 8760).

    Solar position at the middle of each hour (weather values are hourly means).
    """
    import pandas as pd
    from pvlib import irradiance, solarposition

    times = weather.utc_times + pd.Timedelta(minutes=30)
    sp = solarposition.get_solarposition(times, weather.latitude_deg, weather.longitude_deg,
                                         method="nrel_numpy")
    out = []
    for az in azimuths_deg:
        poa = irradiance.get_total_irradiance(
            surface_tilt=90.0, surface_azimuth=az, solar_zenith=sp["apparent_zenith"].to_numpy(),
            solar_azimuth=sp["azimuth"].to_numpy(), dni=weather.dni_w_m2, ghi=weather.ghi_w_m2,
            dhi=weather.dhi_w_m2, albedo=0.2, model="isotropic")
        out.append(np.nan_to_num(np.asarray(poa["poa_global"], float), nan=0.0).clip(min=0.0))
    return np.vstack(out)
