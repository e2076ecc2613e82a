"""The cooling model card (write and read) and the savings booking of a run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from apps.cooling.baselines import CarbonRuleParams, HeuristicParams
from apps.cooling.scenario import ScenarioSpec
from core.errors import ModelError

CARD_NAME = "cooling-agent"


def prefix(building: str, storage_kwh: float = 0.0, split: str = "default") -> str:
    """File-name prefix of a building's card and artifacts (a run with a tank or another split
    gets its own, so the BMS endpoints keep serving the default office policy)."""
    base = CARD_NAME if building == "office" else f"{CARD_NAME}-{building}"
    base = base if not storage_kwh else f"{base}-storage{storage_kwh:g}"
    return base if split == "default" else f"{base}-{split}"


def card_path_for(models_dir: Path, building: str, storage_kwh: float = 0.0,
                  split: str = "default") -> Path:
    """Where the card of ``building`` (with a tank of ``storage_kwh``, trained on ``split``) lives."""
    return models_dir / f"{prefix(building, storage_kwh, split)}.card.json"


def record_saving(ctx: Any, run_id: str, results: dict[str, Any], specs: tuple[ScenarioSpec, ...],
                  building: str, floor_area_m2: float, storage_kwh: float = 0.0,
                  split: str = "default") -> None:
    """Book the agent's simulated saving vs naive (low/high over training seeds) in the ledger."""
    area = floor_area_m2
    naive = results["naive"].means()
    per_seed = [(naive["co2_kg_per_m2"] - s["co2_kg_per_m2"]) * area * len(specs)
                for s in results["agent"].per_seed]
    energy = (naive["energy_kwh_per_m2"] - results["agent"].means()["energy_kwh_per_m2"]) * area * len(specs)
    ctx.ledger.record_saving(
        app="cooling", run_id=run_id, kind="cooling_control",
        # Stable per building (and tank size): the slug of the sentence older ledgers carry.
        counterfactual_id=f"naive-fixed-setpoint-with-night-setback-{building}" + (
            f"-{storage_kwh:g}-kwh-chilled-water-tank" if storage_kwh else ""),
        co2e_kg=float(np.mean(per_seed)),
        co2e_kg_low=float(min(per_seed)), co2e_kg_high=float(max(per_seed)), energy_kwh=float(energy),
        # The building names the counterfactual: core.impact counts the latest estimate per
        # baseline, so an office run and a datahall run must not supersede each other.
        baseline=f"naive fixed setpoint with night setback, {building}" + (
            f", {storage_kwh:g} kWh chilled-water tank" if storage_kwh else "") + (
            f", {split} split" if split != "default" else ""),
        method=("simulated: agent vs naive on held-out weather/grid pairs, June-September, one "
                f"{area:.0f} m2 {building} per pair; low/high over training seeds"),
        assumptions={"scenarios": {"value": [s.label for s in specs], "source": "data/weather, data/grid"},
                     "floor_area_m2": {"value": area, "source": "apps/cooling office/datahall params"},
                     "intensity": {"value": "hourly average", "source": "EIA-930 2022 (core.carbon)"}},
    )


def write_card(ctx: Any, algo: str, agents: dict[str, Any], compact: dict[str, Any],
               results: dict[str, Any], targets: dict[str, Any], plan: Any, fp: str,
               heur: HeuristicParams, rule: CarbonRuleParams,
               calibration: dict[str, Any]) -> Path:
    """Copy the selected agent's seeds and the compact policy next to the card; save the card."""
    from apps.cooling.gate_eval import CARD_KEY
    from core.gates import ModelCard, ModelRef

    folder = ctx.app_models_dir("cooling")
    pre = prefix(plan.building, plan.storage_kwh, plan.split)
    seed_files = []
    for i, row in enumerate(agents[algo]):
        target = folder / f"{pre}-{algo}-seed{i}.zip"
        shutil.copyfile(row["path"], target)
        seed_files.append(target.name)
    ref_file = folder / seed_files[0]
    shutil.copyfile(compact["npz"], folder / f"{pre}-compact-mlp32.npz")
    card = ModelCard(
        app="cooling", name="cooling-agent",
        reference=ModelRef(name=f"{algo}-actor", path=ref_file.name),
        candidate=ModelRef(name="compact-mlp32", path=f"{pre}-compact-mlp32.npz"),
        metrics={"kpis": {n: r.summary() for n, r in results.items()}, "targets": targets,
                 "compact": {k: v for k, v in compact["summary"].items() if k != "gate"},
                 "agent_algo": algo, "heuristic_params": heur.to_dict(),
                 "carbon_rule_params": rule.to_dict(), "storage_kwh_th": plan.storage_kwh,
                 "zone_model_calibration": calibration,
                 "seed_files": seed_files,
                 "agents": {a: [{k: r[k] for k in ("config", "validation_score", "energy_kwh")}
                                for r in rows] for a, rows in agents.items()}},
        footprint=tuple({"algo": a, "seed": r["config"]["seed"], "energy_kwh": r["energy_kwh"],
                         "reused": r["reused"]} for a, rows in agents.items() for r in rows),
        protocol={"plan": plan.to_dict(), "eval": "held-out weather/grid pairs, 1 Jun-30 Sep",
                  "building": plan.building, CARD_KEY: compact["eval_set"]},
        data_fingerprint=fp,
    ).with_gate(compact["report"])
    return card.save(card_path_for(folder, plan.building, plan.storage_kwh, plan.split))


def load_agents(card_path: Path, building: str) -> tuple[str, list[Any], HeuristicParams, Any]:
    """(algo, models per seed, tuned heuristic params, compact policy or None) from the card."""
    from apps.cooling.agents import load_model
    from apps.cooling.compact import NumpyPolicy
    from core.gates import ModelCard

    card = ModelCard.load(card_path)
    algo, folder = card.metrics["agent_algo"], card_path.parent
    plan = card.protocol.get("plan", {})  # the run's tank and split name its files
    storage, split = float(plan.get("storage_kwh") or 0.0), str(plan.get("split") or "default")
    files = [folder / f for f in card.metrics.get("seed_files", [])]
    if not files or not all(f.is_file() for f in files):
        raise ModelError(f"agent files {files} missing next to {card_path}; run "
                         f"`greenstack run cooling --building {building}"
                         + (f" --storage {storage:g}" if storage else "")
                         + (f" --split {split}" if split != "default" else "") + "`")
    models = [load_model(f, algo) for f in files]
    cand = card.candidate.path if card.candidate is not None else None
    npz = folder / str(cand or f"{prefix(building, storage, split)}-compact-mlp32.npz")
    compact = NumpyPolicy.from_npz(npz) if npz.is_file() else None
    return algo, models, HeuristicParams(**card.metrics["heuristic_params"]), compact


def carbon_rule_params(card_path: Path, storage_kwh: float = 0.0) -> CarbonRuleParams | None:
    """The carbon rule's parameters stored in the card when they were tuned with that tank
    (None otherwise, or when the card does not store them)."""
    from core.gates import ModelCard

    metrics = ModelCard.load(card_path).metrics
    raw = metrics.get("carbon_rule_params")
    same_tank = float(metrics.get("storage_kwh_th", 0.0) or 0.0) == float(storage_kwh)
    return CarbonRuleParams(**raw) if isinstance(raw, dict) and same_tank else None
