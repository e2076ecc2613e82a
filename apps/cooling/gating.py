"""Pipeline step: distil the selected agent into the compact policy, gate it on held-out states,
check its KPI deltas; and the gate recheck for cards that do not record their eval set's inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.cooling.agents import actor_network, load_model
from apps.cooling.evaluate import evaluate_controllers
from apps.cooling.gate_eval import (
    CARD_KEY,
    GATE_FIRST_DAY,
    Recheck,
    card_entry,
    gate_eval_inputs,
)
from apps.cooling.scenario import ScenarioSpec
from apps.cooling.train import TrainPlan, compact_run, rollout_states

KPI_BOUNDS = {"co2_rel": 0.02, "discomfort_kh": 1.0}  # compact vs agent seed 0


def compact_and_gate(ctx: Any, store: Any, key_of: Any, teacher_path: str, algo: str,
                     train_spec: ScenarioSpec, eval_specs: tuple[ScenarioSpec, ...],
                     plan: TrainPlan, results: dict[str, Any]) -> dict[str, Any]:
    """Distil, gate (core.gates) and compare KPIs; adds ``results["compact"]``."""
    from apps.cooling.compact import NumpyPolicy, gate_compact

    npz = compact_run(store, key_of, teacher_path, algo, train_spec, plan, ctx.force)
    policy = NumpyPolicy.from_npz(npz)
    teacher = load_model(Path(teacher_path), algo)
    gate_days = min(plan.eval_days or 14, 14)
    obs, slices = rollout_states(teacher, eval_specs, plan.building, days=gate_days,
                                 start_day=GATE_FIRST_DAY, storage_kwh=plan.storage_kwh)
    report = gate_compact(actor_network(teacher), policy, obs, slices, meter=ctx.meter,
                          reference_name=f"{algo}-actor")
    # What the eval set was built from, so serving can tell whether it would gate on the same one.
    eval_set = card_entry(report.eval_version, gate_eval_inputs(
        Path(teacher_path), eval_specs, plan.building, gate_days, GATE_FIRST_DAY))
    compact_res = evaluate_controllers({"compact": [policy]}, eval_specs, plan.building,
                                       days=plan.eval_days, storage_kwh=plan.storage_kwh)["compact"]
    ref = results["agent"].per_seed[0]
    deltas = {k: compact_res.per_seed[0][k] - ref[k]
              for k in ("co2_kg_per_m2", "energy_kwh_per_m2", "discomfort_kh")}
    kpi_ok = (deltas["co2_kg_per_m2"] <= KPI_BOUNDS["co2_rel"] * ref["co2_kg_per_m2"]
              and deltas["discomfort_kh"] <= KPI_BOUNDS["discomfort_kh"])
    results["compact"] = compact_res
    summary = {"gate_passed": bool(report.passed), "kpi_deltas_vs_agent_seed0": deltas,
               "kpi_within_bounds": kpi_ok, "served": "compact" if report.passed and kpi_ok else algo,
               "bounds": dict(KPI_BOUNDS), "gate": report.to_dict()}
    return {"report": report, "npz": npz, "summary": summary, "eval_set": eval_set}


def recheck_card(card_path: Path, data_dir: Path | None) -> Recheck:
    """Rebuild the gate's eval set from the card's teacher and plan with today's code and data.

    If its content version equals the latest gate's, record the inputs in the card (serving then
    accepts that gate without retraining); otherwise leave the card as it is and say so. For cards
    that do not record their inputs. Costs torch + one rollout (seconds to minutes).
    """
    from apps.cooling.compact import gate_eval_set
    from apps.cooling.scenario import held_out_specs
    from core.errors import ModelError
    from core.gates import ModelCard

    card = ModelCard.load(card_path)
    gate = card.latest_gate
    if gate is None or not card.reference.path:
        raise ModelError(f"{card_path} has no gate or no reference file; run `greenstack run cooling`")
    building = str(card.protocol.get("building", "office"))
    days = min(card.protocol.get("plan", {}).get("eval_days") or 14, 14)  # as the pipeline gates
    teacher_path = card_path.parent / card.reference.path
    specs = held_out_specs(building, data_dir, str(card.protocol.get("plan", {}).get("split", "default")))
    inputs = gate_eval_inputs(teacher_path, specs, building, days, GATE_FIRST_DAY)
    teacher = load_model(teacher_path, str(card.metrics.get("agent_algo", "sac")))
    storage = float(card.protocol.get("plan", {}).get("storage_kwh") or 0.0)
    obs, slices = rollout_states(teacher, specs, building, days=days, start_day=GATE_FIRST_DAY,
                                 storage_kwh=storage)
    rebuilt = gate_eval_set(actor_network(teacher), obs, slices).version
    gated = str(gate.get("eval_version"))
    if rebuilt != gated:
        return Recheck(str(card_path), gated, rebuilt, False, "the eval set built now differs from "
                       "the one the gate ran on; rerun `greenstack run cooling` to gate again")
    protocol = {**card.protocol, CARD_KEY: card_entry(rebuilt, inputs)}
    card.model_copy(update={"protocol": protocol}).save(card_path)
    return Recheck(str(card_path), gated, rebuilt, True, "same eval set; its inputs are now recorded")
