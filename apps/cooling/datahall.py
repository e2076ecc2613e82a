"""Data hall: IT heat, CRAH supply-air setpoint, water-side economiser, chiller COP as a Carnot
fraction, cube-law CRAH fans and server fans that speed up with inlet temperature.

One lumped thermal node (room air plus equipment) so pre-cooling has a small, physical store.
Inlet temperature = supply-air temperature + a recirculation rise. The controlled quantity is the
server inlet temperature, judged against the ASHRAE TC9.9 (2011/2021) recommended envelope for
classes A1-A4: 18-27 degC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.cooling.physics import StepOut, carnot_cop, wet_bulb_c
from apps.cooling.weather import WeatherYear

RHO_CP_AIR_J_M3K = 1.2 * 1006.0  # air density (kg/m3) x specific heat (J/(kg K)) near 20 degC


@dataclass(frozen=True)
class DataHallParams:
    """A 500 kW IT white space on 1 000 m2 (0.5 kW/m2, a typical enterprise density)."""

    floor_area_m2: float = 1000.0
    it_design_kw: float = 500.0
    idle_power_fraction: float = 0.6  # Fan, Weber & Barroso (ISCA 2007): idle ~50-60 % of peak
    rack_delta_t_k: float = 12.0  # server air temperature rise (ASHRAE TC9.9 2016 guide, 10-15 K)
    recirculation_rise_k: float = 1.5  # supply-to-inlet mixing with contained aisles (assumption)
    server_fan_fraction: float = 0.05  # server fans' share of IT power at <= 24 degC inlet
    # Server fan speed rises ~5.7 %/K above 24 degC inlet; with the cube law this gives +3 % IT
    # power at 27 degC and +17 % at 35 degC, inside the ranges of ASHRAE TC9.9 (2011) "Thermal
    # Guidelines for Data Processing Environments", server power vs inlet temperature figure.
    server_fan_slope_per_k: float = 0.057
    server_fan_knee_c: float = 24.0
    crah_fan_design_w_per_m3_s: float = 800.0  # SFP at design flow (EN 16798-3 SFP 1-2 band)
    coil_approach_k: float = 5.0  # chilled water this much below supply air
    evaporator_approach_k: float = 2.0  # refrigerant below chilled water leaving temperature
    condenser_approach_k: float = 7.0  # condenser above wet bulb: tower approach 4 K + 3 K
    economiser_approach_k: float = 6.0  # wet bulb + this <= chilled water -> full free cooling
    economiser_span_k: float = 4.0  # partial free cooling over this span (linear, assumption)
    cop_carnot_fraction: float = 0.5  # centrifugal water-cooled chillers, 0.45-0.6
    pump_tower_fraction: float = 0.03  # pumps + tower fans per W of heat rejected (assumption)
    envelope_ua_w_k: float = 2000.0  # walls/roof of the hall, small next to IT heat (assumption)
    thermal_mass_j_k: float = 4.0e6  # room air + equipment effective capacity (assumption)
    cooling_capacity_factor: float = 1.3  # CRAH/chiller capacity over design IT load


def default_it_utilisation(weather: WeatherYear) -> np.ndarray:
    """Modelled utilisation trace (no real IT trace ships with greenstack): a weekday diurnal
    cycle between 30 % and 60 %, the band reported for enterprise servers by Barroso, Clidaras
    & Hoelzle, *The Datacenter as a Computer* (2nd ed., 2013, fig. 5.5). Labelled modelled."""
    local = weather.local_times
    hour, weekday = np.asarray(local.hour), np.asarray(local.day_of_week) < 5
    diurnal = 0.5 - 0.5 * np.cos(2 * np.pi * (hour - 4) / 24.0)  # peak at 16 h
    return 0.30 + np.where(weekday, 0.30, 0.15) * diurnal


@dataclass(frozen=True)
class DataHallDrivers:
    temp_out_c: np.ndarray
    wet_bulb_c: np.ndarray
    it_w: np.ndarray
    occupied: np.ndarray  # always True: the inlet envelope applies at all hours


class DataHall:
    """Lumped data hall; ``step`` holds inlet = supply setpoint + recirculation rise."""

    kind = "datahall"
    comfort_band_c = (18.0, 27.0)  # ASHRAE TC9.9 recommended inlet envelope

    def __init__(self, params: DataHallParams | None = None,
                 it_utilisation: np.ndarray | None = None) -> None:
        self.p = params or DataHallParams()
        self.it_utilisation = it_utilisation
        self.temp_c = 24.0
        self.design_flow_m3_s = self.p.it_design_kw * 1e3 / (RHO_CP_AIR_J_M3K * self.p.rack_delta_t_k)

    def drivers(self, weather: WeatherYear, dt_s: float) -> DataHallDrivers:
        steps_per_h = int(round(3600.0 / dt_s))
        u = self.it_utilisation if self.it_utilisation is not None else default_it_utilisation(weather)
        if len(u) != len(weather.temp_c) or np.isnan(u).any() or (u < 0).any() or (u > 1).any():
            raise ValueError("IT utilisation trace must hold 8760 hourly values in [0, 1]")
        p = self.p
        it_w = p.it_design_kw * 1e3 * (p.idle_power_fraction + (1 - p.idle_power_fraction) * u)
        wb = wet_bulb_c(weather.temp_c, weather.rh_pct)
        n = len(weather.temp_c) * steps_per_h
        return DataHallDrivers(np.repeat(weather.temp_c, steps_per_h), np.repeat(wb, steps_per_h),
                               np.repeat(it_w, steps_per_h), np.ones(n, dtype=bool))

    def reset(self, temp_c: float) -> None:
        self.temp_c = float(temp_c)

    def state(self) -> float:
        """The thermal state (node temperature); ``reset(state())`` undoes a trial step."""
        return self.temp_c

    @property
    def cooling_capacity_w(self) -> float:
        """Largest thermal cooling the plant delivers, W."""
        return self.p.cooling_capacity_factor * self.p.it_design_kw * 1e3

    def server_fan_w(self, it_w: float, inlet_c: float) -> float:
        """Extra server fan power above the knee (cube law on a linear speed rise), W."""
        p = self.p
        speed = 1.0 + p.server_fan_slope_per_k * max(inlet_c - p.server_fan_knee_c, 0.0)
        return it_w * p.server_fan_fraction * (speed ** 3 - 1.0)

    def step(self, d: DataHallDrivers, k: int, supply_setpoint_c: float, dt_s: float) -> StepOut:
        """Advance one step with the CRAH supply-air setpoint ``supply_setpoint_c``."""
        p = self.p
        te, wb, it_w = float(d.temp_out_c[k]), float(d.wet_bulb_c[k]), float(d.it_w[k])
        target_inlet = supply_setpoint_c + p.recirculation_rise_k
        srv_fan_w = self.server_fan_w(it_w, self.temp_c)
        load_w = it_w + srv_fan_w + p.envelope_ua_w_k * (te - self.temp_c)
        # Cooling that brings the lumped node to the target this step, capacity-limited.
        cooling_w = load_w + p.thermal_mass_j_k * (self.temp_c - target_inlet) / dt_s
        cooling_w = min(max(cooling_w, 0.0), p.cooling_capacity_factor * p.it_design_kw * 1e3)
        self.temp_c += (load_w - cooling_w) * dt_s / p.thermal_mass_j_k
        chw_c = supply_setpoint_c - p.coil_approach_k
        free = (chw_c - (wb + p.economiser_approach_k)) / p.economiser_span_k
        free = min(max(free + 1.0, 0.0), 1.0)  # 1 if wb + approach <= chw; 0 if >= chw + span
        cop = carnot_cop(chw_c - p.evaporator_approach_k, wb + p.condenser_approach_k,
                         p.cop_carnot_fraction)
        flow = cooling_w / (RHO_CP_AIR_J_M3K * p.rack_delta_t_k)
        crah_w = p.crah_fan_design_w_per_m3_s * self.design_flow_m3_s * (flow / self.design_flow_m3_s) ** 3
        chiller_w = cooling_w * (1.0 - free) / cop
        cooling_elec_w = chiller_w + crah_w + p.pump_tower_fraction * cooling_w + srv_fan_w
        return StepOut(
            temp_c=self.temp_c, operative_c=self.temp_c, cooling_w=cooling_w, heating_w=0.0,
            elec_w=cooling_elec_w, cooling_elec_w=cooling_elec_w, cop=cop, occupied=True,
            free_cooling=free,
        )
