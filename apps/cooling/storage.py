"""Chilled-water thermal energy storage (TES) for the office and data-hall plants.

A stratified chilled-water tank sits on the chiller loop: charging runs the chiller above the
load and stores the surplus; discharging meets part of the load from the tank, so the chiller
(and its electricity) runs less in that hour. Charging costs the chiller's COP *at the hour it
charges* (the plant's own Carnot-fraction COP of that step), which is where shifting pays: cooler
nights raise the COP, and clean or cheap hours lower the CO2 and cost of the same kWh.

Parameters (thermal kWh; every value an assumption, stated):
- capacity: the ``--storage KWH`` the user passes (0 = no tank: the plant is unchanged).
- charge and discharge limits: capacity / 4 h. Chilled-water TES is commonly sized to carry
  the on-peak part of a design day over a few hours (ASHRAE Handbook - HVAC Applications,
  chapter "Thermal Storage": partial-storage design); 4 h is an assumption in that range.
- standing loss: 1 % of the stored energy per day, an assumption for an insulated, stratified
  steel tank (heat gain through the shell and thermocline mixing are a few % per day or less).
- the tank starts each rollout empty, so any cooling it delivers was charged (and paid for) in
  the same rollout; energy left in it at the end is counted as spent.
- the chiller cannot exceed the plant's cooling capacity while charging; discharge never exceeds
  the mechanical (non-economiser) load of the step.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_TO_FULL = 4.0
LOSS_PER_DAY = 0.01
# The learned policies' tank action is a residual on this carbon-spread dispatch (see
# :func:`carbon_spread_command`): with gain 10 an hour 10 % cleaner than the next 24 h's mean
# charges at the full rate (a design choice, not tuned; the policy's residual corrects it).
# benchmarks/cooling_tank_policy.py compares the residual with a plain tank output.
SPREAD_GAIN = 10.0


def carbon_spread_command(ci_now: float, ci_mean_24h: float, gain: float = SPREAD_GAIN) -> float:
    """Base tank command in [-1, 1] from the carbon spread: charge (> 0) when the hour is cleaner
    than the mean of the next 24 h, discharge when it is dirtier, in proportion to the relative
    gap. Any unit for the two intensities (only their ratio counts); 0 without a forecast."""
    if not ci_mean_24h > 0:
        return 0.0
    return min(max(gain * (ci_mean_24h - ci_now) / ci_mean_24h, -1.0), 1.0)


@dataclass(frozen=True)
class TankParams:
    """A chilled-water tank; capacity in kWh thermal."""

    capacity_kwh_th: float
    hours_to_full: float = HOURS_TO_FULL
    loss_per_day: float = LOSS_PER_DAY

    @property
    def max_rate_w_th(self) -> float:
        return self.capacity_kwh_th * 1000.0 / self.hours_to_full


@dataclass(frozen=True)
class TankStep:
    """What the tank did in one step (thermal W; positive charge, positive discharge)."""

    charge_w_th: float
    discharge_w_th: float
    chiller_w_th: float  # what the chiller delivered: mechanical load - discharge + charge
    soc: float  # state of charge after the step, 0..1


class Tank:
    """State of charge and the step rule; see the module doc."""

    def __init__(self, params: TankParams) -> None:
        if params.capacity_kwh_th <= 0:
            raise ValueError("storage capacity must be > 0 kWh thermal; pass 0 for no tank")
        self.p = params
        self.stored_kwh_th = 0.0

    @property
    def soc(self) -> float:
        return self.stored_kwh_th / self.p.capacity_kwh_th

    def reset(self) -> None:
        self.stored_kwh_th = 0.0

    def max_discharge_w_th(self, mech_load_w_th: float, dt_s: float) -> float:
        """The most the tank can deliver this step: rate limit, what it holds, the load."""
        avail_w = self.stored_kwh_th * 1000.0 / (dt_s / 3600.0)
        return min(self.p.max_rate_w_th, avail_w, max(mech_load_w_th, 0.0))

    def step(self, command: float, mech_load_w_th: float, plant_capacity_w_th: float,
             dt_s: float) -> TankStep:
        """``command`` in [-1, 1]: > 0 charge at that share of the rate limit, < 0 discharge."""
        c = min(max(float(command), -1.0), 1.0)
        dt_h = dt_s / 3600.0
        rate = self.p.max_rate_w_th
        charge = discharge = 0.0
        if c > 0:
            room_w = (self.p.capacity_kwh_th - self.stored_kwh_th) * 1000.0 / dt_h
            headroom_w = max(plant_capacity_w_th - mech_load_w_th, 0.0)
            charge = min(c * rate, room_w, headroom_w)
        elif c < 0:
            avail_w = self.stored_kwh_th * 1000.0 / dt_h
            discharge = min(-c * rate, avail_w, max(mech_load_w_th, 0.0))
        self.stored_kwh_th += (charge - discharge) * dt_h / 1000.0
        self.stored_kwh_th *= 1.0 - self.p.loss_per_day * dt_h / 24.0
        return TankStep(charge, discharge, mech_load_w_th - discharge + charge, self.soc)
