"""Office zone: ISO 13790:2008 simple hourly 5R1C network (Annex C), numpy drivers, float stepping.

The network: air node (theta_air), surface node (theta_s) and one thermal mass node (theta_m);
conductances H_ve (ventilation), H_tr_is (surface-air), H_tr_w (windows), H_tr_ms (mass-surface),
H_tr_em (mass-exterior). The mass node is integrated with the standard's Crank-Nicolson form,
generalised from 3600 s to the step ``dt_s``. Cooling/heating are ideal and capacity-limited, found
from the standard's linear interpolation between zero and a 10 W/m2 test load (ISO 13790 C.4.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from apps.cooling.physics import StepOut, carnot_cop, facade_irradiance_w_m2
from apps.cooling.weather import WeatherYear

# ISO 13790:2008 Table 12: (A_m / A_f, C_m per A_f in J/(m2 K)) per building mass class.
MASS_CLASSES = {
    "very_light": (2.5, 80_000.0),
    "light": (2.5, 110_000.0),
    "medium": (2.5, 165_000.0),
    "heavy": (3.0, 260_000.0),
    "very_heavy": (3.5, 370_000.0),
}
H_IS_W_M2K = 3.45  # ISO 13790 7.2.2.2: surface-air heat transfer coefficient
H_MS_W_M2K = 9.1  # ISO 13790 12.2.2: mass-surface heat transfer coefficient
LAMBDA_AT = 4.5  # ISO 13790 7.2.2.2: A_t = 4.5 A_f
RHO_C_AIR_J_M3K = 1200.0  # ISO 13790 9.3.1: volumetric heat capacity of air
OFF_HOURS_LIGHTING = 0.05  # share of the lighting power left on out of hours (assumption, stated)


@dataclass(frozen=True)
class OfficeParams:
    """One open-plan office floor (middle floor: facade exposure only, no roof/ground)."""

    floor_area_m2: float = 500.0
    height_m: float = 3.0
    mass_class: str = "medium"
    window_to_wall: float = 0.40  # ASHRAE 90.1-2019 Appendix G baseline uses up to 40 %
    u_window_w_m2k: float = 2.38  # ASHRAE 90.1-2019 Table 5.5-3 (CZ3 fixed fenestration U-0.42 IP)
    shgc: float = 0.25  # ASHRAE 90.1-2019 Table 5.5-3 (CZ3 SHGC 0.25)
    u_wall_w_m2k: float = 0.70  # ASHRAE 90.1-2019 Table 5.5-3 (CZ3 mass wall U-0.123 IP)
    frame_fraction: float = 0.30  # ISO 13790 11.4.5 default frame area fraction
    shading_factor: float = 0.70  # ISO 13790 11.4.4 external shading reduction (assumed blinds)
    people_m2_per_person: float = 10.0  # EN 16798-1:2019 Table B.? / ISO 17772-1 office density
    people_sensible_w: float = 75.0  # ASHRAE Fundamentals 2021 ch.18 Table 1, office work
    equipment_w_m2: float = 12.0  # EN 16798-1:2019 Annex C office appliance gains
    lighting_w_m2: float = 6.9  # ASHRAE 90.1-2019 Table 9.5.1 office LPD 0.64 W/ft2
    standby_fraction: float = 0.2  # equipment left on out of hours (assumption, stated)
    vent_l_s_m2: float = 1.4  # EN 16798-1:2019 Cat II low-polluting: 0.7 L/s m2 + 7 L/s person
    infiltration_ach: float = 0.2  # tight modern envelope, assumption
    occupied_start_h: int = 7  # ASHRAE 90.1-2019 App. G / ISO 18523-1 office weekday schedule
    occupied_end_h: int = 19
    cooling_capacity_w_m2: float = 120.0  # sized ~1.3 x Phoenix design load (assumption)
    heating_capacity_w_m2: float = 80.0
    heating_setpoint_occ_c: float = 20.0  # fixed for every controller (this is a cooling study)
    heating_setpoint_unocc_c: float = 16.0
    heating_cop: float = 3.0  # air-source heat pump seasonal COP, assumption
    cop_carnot_fraction: float = 0.45  # second-law efficiency of packaged chillers (0.4-0.55)
    evaporator_c: float = 6.0  # refrigerant evaporating temperature
    condenser_approach_k: float = 8.0  # air-cooled condenser above outdoor dry bulb
    fan_w_per_m3_s: float = 1500.0  # EN 16798-3 SFP 3 boundary (1250-2000 W/(m3/s))
    supply_delta_t_k: float = 10.0  # supply air this much below room when cooling
    orientations_deg: tuple[float, ...] = field(default=(0.0, 90.0, 180.0, 270.0))

    @property
    def facade_m2(self) -> float:
        """Exposed facade of a square floor plate, m2."""
        return 4.0 * math.sqrt(self.floor_area_m2) * self.height_m


@dataclass(frozen=True)
class OfficeDrivers:
    """Per-step exogenous inputs on the simulation grid (length n_steps)."""

    temp_out_c: np.ndarray
    phi_int_w: np.ndarray
    phi_sol_w: np.ndarray
    occupied: np.ndarray  # bool
    h_ve_w_k: np.ndarray


class OfficeZone:
    """ISO 13790 5R1C office zone; ``step`` advances one ``dt_s`` with a cooling setpoint."""

    kind = "office"
    comfort_band_c = (21.0, 26.0)  # occupied operative band (ASHRAE 55 summer upper ~26 degC)

    def __init__(self, params: OfficeParams | None = None) -> None:
        self.p = params or OfficeParams()
        if self.p.mass_class not in MASS_CLASSES:
            raise ValueError(f"mass_class {self.p.mass_class!r}: use one of {sorted(MASS_CLASSES)}")
        a_m_ratio, c_m_per_m2 = MASS_CLASSES[self.p.mass_class]
        af = self.p.floor_area_m2
        self.a_m = a_m_ratio * af
        self.a_t = LAMBDA_AT * af
        self.c_m_j_k = c_m_per_m2 * af
        a_w = self.p.window_to_wall * self.p.facade_m2
        self.a_w_m2 = a_w
        self.h_tr_w = self.p.u_window_w_m2k * a_w
        self.h_tr_is = H_IS_W_M2K * self.a_t
        self.h_tr_ms = H_MS_W_M2K * self.a_m
        h_op = self.p.u_wall_w_m2k * (self.p.facade_m2 - a_w)
        self.h_tr_em = 1.0 / (1.0 / h_op - 1.0 / self.h_tr_ms)
        self.theta_m = 24.0

    def drivers(self, weather: WeatherYear, dt_s: float) -> OfficeDrivers:
        """Gains, solar and ventilation per step (hourly weather held within the hour)."""
        p = self.p
        steps_per_h = int(round(3600.0 / dt_s))
        local = weather.local_times
        hour, weekday = np.asarray(local.hour), np.asarray(local.day_of_week) < 5
        occ_h = weekday & (hour >= p.occupied_start_h) & (hour < p.occupied_end_h)
        phi_int = np.where(occ_h, self.internal_gains_w(True), self.internal_gains_w(False))
        irr = facade_irradiance_w_m2(weather, p.orientations_deg).mean(axis=0)
        phi_sol = p.shgc * p.shading_factor * (1 - p.frame_fraction) * self.a_w_m2 * irr
        h_ve = np.where(occ_h, self.h_ve_w_k(True), self.h_ve_w_k(False))

        def rep(a: np.ndarray) -> np.ndarray:
            return np.repeat(a, steps_per_h)

        return OfficeDrivers(rep(weather.temp_c), rep(phi_int), rep(phi_sol), rep(occ_h), rep(h_ve))

    @property
    def cooling_capacity_w(self) -> float:
        """Largest thermal cooling the plant delivers, W."""
        return self.p.cooling_capacity_w_m2 * self.p.floor_area_m2

    def internal_gains_w(self, occupied: bool) -> float:
        """People, equipment and lighting gains, W (out of hours: equipment standby and 5 % of
        the lighting left on)."""
        p, af = self.p, self.p.floor_area_m2
        if occupied:
            people = af / p.people_m2_per_person * p.people_sensible_w
            return people + af * (p.equipment_w_m2 + p.lighting_w_m2)
        return af * p.equipment_w_m2 * p.standby_fraction + af * p.lighting_w_m2 * OFF_HOURS_LIGHTING

    def h_ve_w_k(self, occupied: bool) -> float:
        """Ventilation + infiltration heat transfer coefficient H_ve, W/K (ISO 13790 9.3.1)."""
        p, af = self.p, self.p.floor_area_m2
        volume = af * p.height_m
        infil = RHO_C_AIR_J_M3K * p.infiltration_ach * volume / 3600.0
        return infil + (RHO_C_AIR_J_M3K * p.vent_l_s_m2 / 1000.0 * af if occupied else 0.0)

    def held_drivers(self, temp_out_c: float, occupied: bool, n_steps: int,
                     phi_sol_w: float = 0.0) -> OfficeDrivers:
        """Drivers with outdoor temperature, occupancy and solar held for ``n_steps`` steps, the
        gains and ventilation terms exactly as :meth:`drivers` computes them."""
        return OfficeDrivers(np.full(n_steps, float(temp_out_c)),
                             np.full(n_steps, self.internal_gains_w(occupied)),
                             np.full(n_steps, float(phi_sol_w)), np.full(n_steps, bool(occupied)),
                             np.full(n_steps, self.h_ve_w_k(occupied)))

    def reset(self, temp_c: float) -> None:
        """Start with the mass at ``temp_c``."""
        self.theta_m = float(temp_c)

    def state(self) -> float:
        """The thermal state (mass temperature); ``reset(state())`` undoes a trial step."""
        return self.theta_m

    def _solve(self, theta_e: float, phi_int: float, phi_sol: float, h_ve: float,
               phi_hc: float, dt_s: float) -> tuple[float, float, float]:
        """ISO 13790 C.3: (theta_m_t, theta_s, theta_air) for a given heating(+)/cooling(-) W."""
        phi_ia = 0.5 * phi_int
        frac_m = self.a_m / self.a_t
        phi_m = frac_m * (0.5 * phi_int + phi_sol)
        phi_st = (1 - frac_m - self.h_tr_w / (9.1 * self.a_t)) * (0.5 * phi_int + phi_sol)
        h1 = 1.0 / (1.0 / h_ve + 1.0 / self.h_tr_is)
        h2 = h1 + self.h_tr_w
        h3 = 1.0 / (1.0 / h2 + 1.0 / self.h_tr_ms)
        phi_mtot = phi_m + self.h_tr_em * theta_e + h3 * (
            phi_st + self.h_tr_w * theta_e + h1 * ((phi_ia + phi_hc) / h_ve + theta_e)) / h2
        cm = self.c_m_j_k / dt_s
        k = 0.5 * (h3 + self.h_tr_em)
        theta_m_t = (self.theta_m * (cm - k) + phi_mtot) / (cm + k)
        theta_m = 0.5 * (theta_m_t + self.theta_m)
        theta_s = (self.h_tr_ms * theta_m + phi_st + self.h_tr_w * theta_e
                   + h1 * (theta_e + (phi_ia + phi_hc) / h_ve)) / (self.h_tr_ms + self.h_tr_w + h1)
        theta_air = (self.h_tr_is * theta_s + h_ve * theta_e + phi_ia + phi_hc) / (self.h_tr_is + h_ve)
        return theta_m_t, theta_s, theta_air

    def step(self, d: OfficeDrivers, k: int, cooling_setpoint_c: float, dt_s: float) -> StepOut:
        """Advance one step holding the air at or below ``cooling_setpoint_c`` when possible."""
        p, af = self.p, self.p.floor_area_m2
        te, pi, ps, hv = float(d.temp_out_c[k]), float(d.phi_int_w[k]), float(d.phi_sol_w[k]), float(d.h_ve_w_k[k])
        occ = bool(d.occupied[k])
        heat_sp = p.heating_setpoint_occ_c if occ else p.heating_setpoint_unocc_c
        cool_sp = max(cooling_setpoint_c, heat_sp + 1.0)
        _, _, t0 = self._solve(te, pi, ps, hv, 0.0, dt_s)
        phi_hc = 0.0
        if t0 > cool_sp or t0 < heat_sp:
            _, _, t10 = self._solve(te, pi, ps, hv, 10.0 * af, dt_s)
            target = cool_sp if t0 > cool_sp else heat_sp
            phi_hc = 10.0 * af * (target - t0) / (t10 - t0)
            phi_hc = min(max(phi_hc, -p.cooling_capacity_w_m2 * af), p.heating_capacity_w_m2 * af)
        self.theta_m, theta_s, theta_air = self._solve(te, pi, ps, hv, phi_hc, dt_s)
        cooling_w = max(-phi_hc, 0.0)
        heating_w = max(phi_hc, 0.0)
        cop = carnot_cop(p.evaporator_c, te + p.condenser_approach_k, p.cop_carnot_fraction)
        vent_m3_s = p.vent_l_s_m2 / 1000.0 * af if occ else 0.0
        cool_m3_s = cooling_w / (RHO_C_AIR_J_M3K * p.supply_delta_t_k)
        fan_w = p.fan_w_per_m3_s * max(vent_m3_s, cool_m3_s)
        elec_w = cooling_w / cop + heating_w / p.heating_cop + fan_w
        return StepOut(
            temp_c=theta_air, operative_c=0.3 * theta_air + 0.7 * theta_s, cooling_w=cooling_w,
            heating_w=heating_w, elec_w=elec_w, cooling_elec_w=cooling_w / cop + fan_w * (cooling_w > 0),
            cop=cop, occupied=occ, free_cooling=0.0,
        )

