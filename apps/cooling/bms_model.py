"""What the BMS endpoints run: the served policy (from the model card) and the one-hour 5R1C
projection that states expected kWh / kgCO2 against the naive schedule."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from apps.cooling.office import OfficeDrivers, OfficeZone
from apps.cooling.safety import Envelope, rate_limit

log = logging.getLogger(__name__)


def served_policy(card_path: Path, envelope: Envelope,
                  data_dir: Path | None = None) -> tuple[Any, str]:
    """(controller, model version). The compact policy only if its latest gate passed on the eval
    set the service would gate on now (``apps.cooling.gate_eval``; ``data_dir`` holds the held-out
    weather/grid files) and its KPI deltas held; else the agent; else the rule-based fallback."""
    from apps.cooling.bms import heuristic_fallback
    from apps.cooling.compact import NumpyPolicy
    from apps.cooling.gate_eval import eval_version_now
    from core.errors import ModelError
    from core.gates import ModelCard, load_served_choice

    try:
        card = ModelCard.load(card_path)
    except ModelError as e:
        log.warning("cooling recommendations use rules: %s", e)
        return heuristic_fallback()
    stamp = f"{card.name}@{int(card.updated_unix_s)}"
    now = eval_version_now(card, card_path, data_dir)
    if now.reason:
        log.warning("cooling eval set for %s: %s", card_path, now.reason)
    choice = load_served_choice(card_path, now.version)
    kpi_ok = bool(card.metrics.get("compact", {}).get("kpi_within_bounds"))
    if choice.served == "candidate" and kpi_ok and choice.path and Path(choice.path).is_file():
        return NumpyPolicy.from_npz(choice.path), f"{stamp}/compact-mlp32"
    if choice.served == "candidate" and not kpi_ok:
        log.warning("cooling serves the agent: the compact policy's KPI deltas were out of bounds")
    ref = card_path.parent / (card.reference.path or "")
    if ref.is_file():
        from apps.cooling.agents import AgentController, load_model

        algo = card.metrics.get("agent_algo", "sac")
        return AgentController(load_model(ref, algo)), f"{stamp}/{algo}-reference"
    log.warning("model card %s names %s but it is missing; using rules", card_path, ref)
    return heuristic_fallback()


def project_hour(zone_temp_c: float, outdoor_c: float, occupied: bool, setpoint_c: float,
                 baseline_setpoint_c: float, ci_g_per_kwh: float) -> dict[str, float]:
    """Electricity (kWh) and kgCO2 of the next hour for the recommendation and the baseline, on
    the default 500 m2 office with the mass starting at the zone temperature, outdoor
    temperature held, no solar (no irradiance telemetry): a modelled estimate, not a forecast."""
    out: dict[str, float] = {}
    for label, sp in (("", setpoint_c), ("baseline_", baseline_setpoint_c)):
        zone = OfficeZone()
        p, af = zone.p, zone.p.floor_area_m2
        people = af / p.people_m2_per_person * p.people_sensible_w
        gains = people + af * (p.equipment_w_m2 + p.lighting_w_m2) if occupied else (
            af * p.equipment_w_m2 * p.standby_fraction)
        vent = 1200.0 * (p.vent_l_s_m2 / 1000.0 * af if occupied else 0.0) + (
            1200.0 * p.infiltration_ach * af * p.height_m / 3600.0)
        d = OfficeDrivers(np.full(4, outdoor_c), np.full(4, gains), np.zeros(4),
                          np.full(4, occupied), np.full(4, vent))
        zone.reset(zone_temp_c)
        current, kwh = zone_temp_c, 0.0
        for k in range(4):
            current = rate_limit(current, sp, 900.0)
            kwh += zone.step(d, k, current, 900.0).elec_w / 1000.0 * 0.25
        out[f"{label}kwh"] = kwh
        out[f"{label}kg"] = kwh * ci_g_per_kwh / 1000.0
    return out
