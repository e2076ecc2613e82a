"""The body of ``CoolingService.run_pipeline`` and ``evaluate_files`` (kept out of service.py so
the service stays a thin facade)."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.cooling.agents import AgentConfig, AgentController, actor_network, load_model
from apps.cooling.baselines import HeuristicParams, baseline_controllers
from apps.cooling.env import SEASON_FIRST_DAY, CoolingEnv
from apps.cooling.evaluate import evaluate_controllers, relative_change
from apps.cooling.safety import ENVELOPES
from apps.cooling.scenario import ScenarioSpec
from apps.cooling.train import (
    TrainPlan,
    compact_run,
    heuristic_run,
    rollout_states,
    search_sac,
    train_agents,
    training_specs,
)
from apps.progress import Progress, tick
from core.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    from apps.cooling.service import CoolingRunSummary, CoolingService

log = logging.getLogger(__name__)
JULY_FIRST_DAY = 181


def run_pipeline(svc: CoolingService, progress: Progress = None, **options: Any) -> CoolingRunSummary:
    """prepare -> tune -> search -> train -> evaluate -> compact + gate -> savings -> card."""
    from apps.cooling.service import CoolingRunSummary
    from core.runs import fingerprint_paths, run_key

    ctx, plan = svc.ctx, TrainPlan(**options)
    started_unix_s = time.time()
    train_spec, eval_specs = svc.specs(plan.building)
    files = [p for s in (*training_specs(train_spec, plan), *eval_specs) for p in (s.weather, s.grid)]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise DataError(f"missing input files {missing}; ship data/weather and data/grid")
    fp = fingerprint_paths(files)
    store = ctx.run_store()

    def key_of(cfg: dict[str, Any]) -> str:
        return run_key(cfg, fp)  # code version: core + this app's package

    total = 6
    tick(progress, "tune heuristic", 0, total)
    heur = heuristic_run(store, key_of, train_spec, plan, ctx.force)
    tick(progress, "search SAC (successive halving)", 1, total)
    search = search_sac(store, key_of, train_spec, plan, ctx.force)
    tick(progress, "train SAC + PPO", 2, total)
    agents = train_agents(store, key_of, train_spec, plan, AgentConfig(**search["best"]), ctx.force)
    algo = min(agents, key=lambda a: float(np.mean([r["validation_score"] for r in agents[a]])))
    tick(progress, "evaluate on held-out pairs", 3, total)
    run_id = svc.new_run_id()
    models = {a: [load_model(Path(r["path"]), a) for r in rows] for a, rows in agents.items()}
    results = _evaluate_all(ctx, run_id, eval_specs, plan, heur, models, algo)
    tick(progress, "compact policy + gate", 4, total)
    compact = _compact(ctx, store, key_of, agents[algo][0]["path"], algo, train_spec, eval_specs,
                       plan, results)
    tick(progress, "savings + model card", 5, total)
    targets = _targets(results)
    _record_saving(ctx, run_id, results, eval_specs, plan.building)
    card = _write_card(svc, algo, agents, compact, results, targets, plan, fp, heur)
    tick(progress, "done", total, total)
    train_kwh = sum(f.energy_kwh for f in ctx.ledger.footprints(app="cooling")
                    if f.created_unix_s >= started_unix_s and f.phase in ("train", "compress"))
    reused = sum(r["reused"] for rows in agents.values() for r in rows) + int(search["reused"])
    return CoolingRunSummary(
        run_id=run_id, building=plan.building,
        train_scenario=" & ".join(s.label for s in training_specs(train_spec, plan)),
        eval_scenarios=tuple(s.label for s in eval_specs), agent_algo=algo,
        kpis={n: r.summary() for n, r in results.items()},
        per_scenario={n: r.per_scenario for n, r in results.items()}, targets=targets,
        heuristic_params=heur.to_dict(), search=search, compact=compact["summary"],
        training_energy_kwh=train_kwh, reused_runs=reused, card_path=str(card),
        notes=("KPIs are simulated (ISO 13790 5R1C / lumped data hall), June-September, held-out "
               "weather+grid pairs; training energy is measured by core.energy",),
    )


def _evaluate_all(ctx: Any, run_id: str, specs: tuple[ScenarioSpec, ...], plan: TrainPlan,
                  heur: HeuristicParams, models: dict[str, list[Any]], algo: str) -> dict[str, Any]:
    envelope = ENVELOPES[plan.building]
    controllers: dict[str, list[Any]] = {k: [v] for k, v in baseline_controllers(envelope, heur).items()}
    for a, ms in models.items():
        controllers[a] = [AgentController(m, f"{a}-{i}") for i, m in enumerate(ms)]
    with ctx.meter.window("cooling-evaluate", unit="controller-season") as w:
        results = evaluate_controllers(controllers, specs, plan.building, days=plan.eval_days)
        w.count += sum(len(v) for v in controllers.values()) * len(specs)
    results["agent"] = results[algo]  # the selected algorithm, chosen on training validation
    ctx.ledger.record_footprint(app="cooling", run_id=run_id, phase="evaluate",
                                measurement=w.measurement, intensity=ctx.carbon.intensity(at=None),
                                pue=ctx.pue, notes="held-out season rollouts of all controllers")
    return results


def _compact(ctx: Any, store: Any, key_of: Any, teacher_path: str, algo: str,
             train_spec: ScenarioSpec, eval_specs: tuple[ScenarioSpec, ...], plan: TrainPlan,
             results: dict[str, Any]) -> dict[str, Any]:
    from apps.cooling.compact import NumpyPolicy, gate_compact
    from apps.cooling.gate_eval import card_entry, gate_eval_inputs

    npz = compact_run(store, key_of, teacher_path, algo, train_spec, plan, ctx.force)
    policy = NumpyPolicy.from_npz(npz)
    teacher = load_model(Path(teacher_path), algo)
    gate_days = min(plan.eval_days or 14, 14)
    obs, slices = rollout_states(teacher, eval_specs, plan.building, days=gate_days,
                                 start_day=JULY_FIRST_DAY)
    report = gate_compact(actor_network(teacher), policy, obs, slices, meter=ctx.meter,
                          reference_name=f"{algo}-actor")
    # What the eval set was built from, so serving can tell whether it would gate on the same one.
    eval_set = card_entry(report.eval_version, gate_eval_inputs(
        Path(teacher_path), eval_specs, plan.building, gate_days, JULY_FIRST_DAY))
    compact_res = evaluate_controllers({"compact": [policy]}, eval_specs, plan.building,
                                       days=plan.eval_days)["compact"]
    ref = results["agent"].per_seed[0]
    deltas = {k: compact_res.per_seed[0][k] - ref[k]
              for k in ("co2_kg_per_m2", "energy_kwh_per_m2", "discomfort_kh")}
    kpi_ok = (deltas["co2_kg_per_m2"] <= 0.02 * ref["co2_kg_per_m2"]
              and deltas["discomfort_kh"] <= 1.0)
    results["compact"] = compact_res
    summary = {"gate_passed": bool(report.passed), "kpi_deltas_vs_agent_seed0": deltas,
               "kpi_within_bounds": kpi_ok, "served": "compact" if report.passed and kpi_ok else algo,
               "bounds": {"co2_rel": 0.02, "discomfort_kh": 1.0}, "gate": report.to_dict()}
    return {"report": report, "npz": npz, "summary": summary, "eval_set": eval_set}


def _targets(results: dict[str, Any]) -> dict[str, Any]:
    e = relative_change(results, "agent", "naive", "cooling_kwh_per_m2")
    c = relative_change(results, "agent", "naive", "co2_kg_per_m2")
    h = relative_change(results, "heuristic", "naive", "co2_kg_per_m2")
    d_agent = results["agent"].means()["discomfort_kh"]
    d_naive = results["naive"].means()["discomfort_kh"]
    return {
        "cooling_energy_vs_naive_pct": e, "co2_vs_naive_pct": c, "heuristic_co2_vs_naive_pct": h,
        "co2_points_better_than_heuristic": h["mean_pct"] - c["mean_pct"],
        "discomfort_kh_agent": d_agent, "discomfort_kh_naive": d_naive,
        "met": {"energy_15pct": -e["mean_pct"] >= 15.0, "co2_20pct": -c["mean_pct"] >= 20.0,
                "co2_3pts_vs_heuristic": h["mean_pct"] - c["mean_pct"] >= 3.0,
                "discomfort_not_worse": d_agent <= d_naive + 0.5},
    }


def _record_saving(ctx: Any, run_id: str, results: dict[str, Any], specs: tuple[ScenarioSpec, ...],
                   building: str) -> None:
    area = CoolingEnv((specs[0],), building=building).sc.floor_area_m2
    naive = results["naive"].means()
    per_seed = [(naive["co2_kg_per_m2"] - s["co2_kg_per_m2"]) * area * len(specs)
                for s in results["agent"].per_seed]
    energy = (naive["energy_kwh_per_m2"] - results["agent"].means()["energy_kwh_per_m2"]) * area * len(specs)
    ctx.ledger.record_saving(
        app="cooling", run_id=run_id, kind="cooling_control", co2e_kg=float(np.mean(per_seed)),
        co2e_kg_low=float(min(per_seed)), co2e_kg_high=float(max(per_seed)), energy_kwh=float(energy),
        # The building names the counterfactual: core.impact counts the latest estimate per
        # baseline, so an office run and a datahall run must not supersede each other.
        baseline=f"naive fixed setpoint with night setback, {building}",
        method=("simulated: agent vs naive on held-out weather/grid pairs, June-September, one "
                f"{area:.0f} m2 {building} per pair; low/high over training seeds"),
        assumptions={"scenarios": {"value": [s.label for s in specs], "source": "data/weather, data/grid"},
                     "floor_area_m2": {"value": area, "source": "apps/cooling office/datahall params"},
                     "intensity": {"value": "hourly average", "source": "EIA-930 2022 (core.carbon)"}},
    )


def _write_card(svc: Any, algo: str, agents: dict[str, Any], compact: dict[str, Any],
                results: dict[str, Any], targets: dict[str, Any], plan: TrainPlan, fp: str,
                heur: HeuristicParams) -> Path:
    from apps.cooling.gate_eval import CARD_KEY
    from core.gates import ModelCard, ModelRef

    folder = svc.ctx.app_models_dir("cooling")
    prefix = _prefix(plan.building)
    seed_files = []
    for i, row in enumerate(agents[algo]):
        target = folder / f"{prefix}-{algo}-seed{i}.zip"
        shutil.copyfile(row["path"], target)
        seed_files.append(target.name)
    ref_file = folder / seed_files[0]
    shutil.copyfile(compact["npz"], folder / f"{prefix}-compact-mlp32.npz")
    card = ModelCard(
        app="cooling", name="cooling-agent",
        reference=ModelRef(name=f"{algo}-actor", path=ref_file.name),
        candidate=ModelRef(name="compact-mlp32", path=f"{prefix}-compact-mlp32.npz"),
        metrics={"kpis": {n: r.summary() for n, r in results.items()}, "targets": targets,
                 "compact": {k: v for k, v in compact["summary"].items() if k != "gate"},
                 "agent_algo": algo, "heuristic_params": heur.to_dict(), "seed_files": seed_files,
                 "agents": {a: [{k: r[k] for k in ("config", "validation_score", "energy_kwh")}
                                for r in rows] for a, rows in agents.items()}},
        footprint=tuple({"algo": a, "seed": r["config"]["seed"], "energy_kwh": r["energy_kwh"],
                         "reused": r["reused"]} for a, rows in agents.items() for r in rows),
        protocol={"plan": plan.to_dict(), "eval": "held-out weather/grid pairs, 1 Jun-30 Sep",
                  "building": plan.building, CARD_KEY: compact["eval_set"]},
        data_fingerprint=fp,
    ).with_gate(compact["report"])
    return card.save(svc.card_path_for(plan.building))


def _prefix(building: str) -> str:
    return "cooling-agent" if building == "office" else f"cooling-agent-{building}"


def load_agents(svc: CoolingService, building: str) -> tuple[str, list[Any], HeuristicParams, Any]:
    """(algo, models per seed, tuned heuristic params, compact policy or None) from the card."""
    from apps.cooling.compact import NumpyPolicy
    from core.gates import ModelCard

    card_path = svc.card_path_for(building)
    card = ModelCard.load(card_path)
    algo, folder = card.metrics["agent_algo"], card_path.parent
    files = [folder / f for f in card.metrics.get("seed_files", [])]
    if not files or not all(f.is_file() for f in files):
        raise ModelError(f"agent files {files} missing next to {card_path}; run "
                         f"`greenstack run cooling --building {building}`")
    models = [load_model(f, algo) for f in files]
    npz = folder / f"{_prefix(building)}-compact-mlp32.npz"
    compact = NumpyPolicy.from_npz(npz) if npz.is_file() else None
    return algo, models, HeuristicParams(**card.metrics["heuristic_params"]), compact


def evaluate_files(svc: CoolingService, weather: Path, grid: Path, building: str,
                   days: int | None) -> dict[str, Any]:
    """All baselines and the trained agent (every stored seed) on one weather/grid pair."""
    if building not in ENVELOPES:
        raise ConfigError(f"unknown building {building!r}; use office or datahall")
    spec = ScenarioSpec(str(weather), str(grid), building)
    algo, models, heur, _ = load_agents(svc, building)
    controllers: dict[str, list[Any]] = {
        k: [v] for k, v in baseline_controllers(ENVELOPES[building], heur).items()}
    controllers["agent"] = [AgentController(m) for m in models]
    results = evaluate_controllers(controllers, (spec,), building, days=days)
    return {"scenario": spec.label, "building": building, "agent_algo": algo,
            "period": f"day {SEASON_FIRST_DAY} for {days or 122} days (June-September)",
            "controllers": {n: {k: v["mean"] for k, v in r.summary().items()} | {
                "spread": {k: v["spread"] for k, v in r.summary().items()},
                "n_seeds": len(r.per_seed)} for n, r in results.items()},
            "method": "simulated", "inputs": asdict(spec)}
