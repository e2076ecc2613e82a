"""Setpoint safety shared by the simulator and the REST service: envelope clamp and rate limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_RATE_K_PER_15MIN = 1.0  # a setpoint moves at most 1 K per 15 minutes (issue 6 safety rule)
SAME_SETPOINT_K = 0.01  # setpoints this close are one value (recommendations are sent at 0.01 K)


@dataclass(frozen=True)
class Envelope:
    """Where a controller may put the setpoint and where comfort is judged, degC.

    ``reference_*`` is the setpoint an action of 0 means; actions are offsets of at most
    ``max_offset_k`` around it; the result is clamped to [min_c, max_c] in every case.
    """

    reference_occupied_c: float
    reference_unoccupied_c: float
    max_offset_k: float
    min_c: float
    max_c: float
    comfort_low_c: float
    comfort_high_c: float
    controlled: str  # what the setpoint is: "zone air temperature" | "supply air temperature"
    temp_offset_k: float = 0.0  # controlled temperature = setpoint + this (data-hall recirculation)
    max_offset_unoccupied_k: float | None = None  # None: same as max_offset_k

    def offset_k(self, occupied: bool) -> float:
        """Largest offset an action may ask for, K."""
        if occupied or self.max_offset_unoccupied_k is None:
            return self.max_offset_k
        return self.max_offset_unoccupied_k


# Office: comfort band 21-26 degC occupied (ASHRAE 55-2020 summer band at 0.5 clo, widened at
# the bottom for the heating season). Occupied setpoints 22-26 degC, so no action asks for a
# temperature outside the band; unoccupied 22-30 degC (pre-cooling down to 22, setback to 30).
OFFICE_ENVELOPE = Envelope(24.0, 26.0, 2.0, 20.0, 30.0, 21.0, 26.0, "zone air temperature",
                           max_offset_unoccupied_k=4.0)
# Data hall: supply air 16.5-25.5 degC so inlet = supply + 1.5 K stays in ASHRAE TC9.9's 18-27.
DATAHALL_ENVELOPE = Envelope(21.0, 21.0, 4.0, 16.5, 25.5, 18.0, 27.0, "supply air temperature",
                             temp_offset_k=1.5)
ENVELOPES = {"office": OFFICE_ENVELOPE, "datahall": DATAHALL_ENVELOPE}


def clamp(setpoint_c: float, env: Envelope) -> float:
    """Clamp into the envelope."""
    return min(max(setpoint_c, env.min_c), env.max_c)


def rate_limit(previous_c: float | None, target_c: float, dt_s: float,
               max_k_per_15min: float = MAX_RATE_K_PER_15MIN) -> float:
    """Move from ``previous_c`` toward ``target_c`` by at most ``max_k_per_15min`` per 900 s."""
    if previous_c is None:
        return target_c
    max_step = max_k_per_15min * dt_s / 900.0
    return previous_c + min(max(target_c - previous_c, -max_step), max_step)


def rate_limit_since(target_c: float, known: Sequence[tuple[float, float]],
                     max_k_per_15min: float = MAX_RATE_K_PER_15MIN) -> float:
    """``target_c`` moved no faster than ``max_k_per_15min`` from the setpoints known so far.

    ``known``: (seconds before now, setpoint degC) of every setpoint the building reported or was
    issued recently, in any order. The latest value has held since the start of its trailing run
    of equal values (within :data:`SAME_SETPOINT_K`, the resolution recommendations are sent
    at); the result stays within ``max_k_per_15min x (real seconds since that start) / 900`` of
    every value of the run. So requests repeated within one second move the setpoint by at most
    one second's worth of the limit, however many there are. No known setpoint: ``target_c``
    unchanged (nothing to limit against)."""
    if not known:
        return target_c
    events = sorted(known, key=lambda e: e[0])  # latest first
    latest = events[0][1]
    run = []
    for _, value in events:
        if abs(value - latest) > SAME_SETPOINT_K:
            break
        run.append(value)
    reach = max_k_per_15min * max(events[len(run) - 1][0], 0.0) / 900.0
    low, high = max(run) - reach, min(run) + reach
    if low > high:  # the run spans more than it may have moved: hold the latest value
        return latest
    return min(max(target_c, low), high)


def action_to_setpoint(action: float, occupied: bool, env: Envelope) -> float:
    """Map an action in [-1, 1] to a clamped setpoint."""
    a = min(max(float(action), -1.0), 1.0)
    ref = env.reference_occupied_c if occupied else env.reference_unoccupied_c
    return clamp(ref + a * env.offset_k(occupied), env)


def setpoint_to_action(setpoint_c: float, occupied: bool, env: Envelope) -> float:
    """Inverse of :func:`action_to_setpoint` (clipped to [-1, 1])."""
    ref = env.reference_occupied_c if occupied else env.reference_unoccupied_c
    return min(max((setpoint_c - ref) / env.offset_k(occupied), -1.0), 1.0)


def dr_storage_command(command: float, soc: float, event: bool,
                       needed: float | None = None) -> float:
    """The demand-response layer's tank command in [-1, 1] (> 0 charges, < 0 discharges, as a
    share of the tank's rate limit). Outside an event: the controller's ``command``. During an
    event the layer owns the tank: it discharges first and never charges (charging adds import),
    the share ``needed`` of its rate that keeps import within the limit and no more, so the rest
    lasts the event (the simulator knows it), its full rate when that is unknown (the BMS
    endpoint); an empty tank holds."""
    if not event:
        return command
    if soc <= 0.0:
        return 0.0
    if needed is None:
        return -1.0
    return -min(max(needed, 0.0), 1.0)


def dr_prepare_command(command: float, soc: float, hours_to_event: float,
                       hours_to_full: float) -> float:
    """The demand-response layer's tank command before an announced event later the same day
    (OpenADR events are announced a day ahead): the tank never discharges and charges at least
    the share of its rate that fills it by the event's start (evenly over the hours left; the
    controller may charge faster). ``hours_to_full``: capacity / rate limit."""
    share = (1.0 - soc) * hours_to_full / max(hours_to_event, 1e-9)
    return max(command, min(max(share, 0.0), 1.0))
