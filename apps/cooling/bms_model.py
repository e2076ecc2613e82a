"""What the BMS endpoints run: the served policy (from the model card) and the one-hour 5R1C
projection that states expected kWh / kgCO2 against the naive schedule. The projection steps the
simulator's own office zone (:class:`apps.cooling.office.OfficeZone`, same constants and gain
terms as training and evaluation), so reported savings come from the model the agent is judged on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from apps.cooling.office import OfficeZone
from apps.cooling.safety import OFFICE_ENVELOPE, Envelope, rate_limit

log = logging.getLogger(__name__)


def served_policy(card_path: Path, envelope: Envelope,
                  data_dir: Path | None = None) -> tuple[Any, str]:
    """(controller, model version). The compact policy only if its latest gate passed on the eval
    set the service would gate on now (``apps.cooling.gate_eval``; ``data_dir`` holds the held-out
    weather/grid files) and its KPI deltas held; else the agent; else the rule-based fallback."""
    from apps.cooling.compact import NumpyPolicy
    from apps.cooling.gate_eval import eval_version_now
    from core.errors import ModelError
    from core.gates import ModelCard, load_served_choice

    try:
        card = ModelCard.load(card_path)
    except ModelError as e:
        log.warning("cooling recommendations use rules: %s", e)
        return heuristic_fallback()
    # The card file names the run (building, tank, split): cooling-agent-storage200-...@time
    stamp = f"{card_path.name.removesuffix('.card.json')}@{int(card.updated_unix_s)}"
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


def heuristic_fallback() -> tuple[Any, str]:
    """The tuned-rule controller with default parameters, when no agent has been trained."""
    from apps.cooling.baselines import HeuristicController

    return HeuristicController(OFFICE_ENVELOPE), "heuristic-rules/default (no trained agent yet)"


STEPS_PER_HOUR = 4
STEP_S = 900.0


def project_hour(zone_temp_c: float, outdoor_c: float, occupied: bool, setpoint_c: float,
                 baseline_setpoint_c: float, ci_g_per_kwh: float) -> dict[str, float]:
    """Electricity (kWh) and kgCO2 of the next hour for the recommendation and the baseline, on
    the default 500 m2 office with the mass starting at the zone temperature, outdoor
    temperature held, no solar (no irradiance telemetry): a modelled estimate, not a forecast."""
    out: dict[str, float] = {}
    for label, sp in (("", setpoint_c), ("baseline_", baseline_setpoint_c)):
        zone = OfficeZone()
        d = zone.held_drivers(outdoor_c, occupied, STEPS_PER_HOUR)
        zone.reset(zone_temp_c)
        current, kwh = zone_temp_c, 0.0
        for k in range(STEPS_PER_HOUR):
            current = rate_limit(current, sp, STEP_S)
            kwh += zone.step(d, k, current, STEP_S).elec_w / 1000.0 * STEP_S / 3600.0
        out[f"{label}kwh"] = kwh
        out[f"{label}kg"] = kwh * ci_g_per_kwh / 1000.0
    return out
