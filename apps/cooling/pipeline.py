"""``greenstack run cooling``: prepare -> tune heuristic -> SAC search (successive halving) ->
SAC + PPO per seed -> evaluate on held-out weather/grid pairs -> distil + gate the compact policy
-> savings to the ledger -> model card. Step bodies live in the domain modules."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from apps.cooling.agents import AgentConfig, load_model
from apps.cooling.calibration import calibration_run
from apps.cooling.card import record_saving, write_card
from apps.cooling.evaluate import evaluate_all, targets
from apps.cooling.gating import compact_and_gate
from apps.cooling.scenario import default_train_spec, held_out_specs, make_building
from apps.cooling.summary import CoolingRunSummary
from apps.cooling.train import (
    TrainPlan,
    carbon_rule_run,
    heuristic_run,
    run_store_and_keys,
    search_sac,
    select_algo,
    train_agents,
    training_specs,
)
from apps.progress import Progress, tick
from core.errors import DataError

STAGES = ("tune heuristic + carbon rule", "search SAC (successive halving)", "train SAC + PPO",
          "evaluate on held-out pairs", "compact policy + gate",
          "zone-model calibration, savings + model card")


def run(ctx: Any, config: TrainPlan, progress: Progress = None) -> CoolingRunSummary:
    """Run every stage (finished runs are reused from the run store unless ``ctx.force``)."""
    import uuid

    plan, started_unix_s = config, time.time()
    train_spec = default_train_spec(plan.building, ctx.data_dir, plan.split)
    eval_specs = held_out_specs(plan.building, ctx.data_dir, plan.split)
    files = [p for s in (*training_specs(train_spec, plan), *eval_specs) for p in (s.weather, s.grid)]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise DataError(f"missing input files {missing}; ship data/weather and data/grid")
    store, key_of, fp = run_store_and_keys(ctx, files)

    total = len(STAGES)
    tick(progress, STAGES[0], 0, total)
    heur = heuristic_run(store, key_of, train_spec, plan, ctx.force)
    rule = carbon_rule_run(store, key_of, training_specs(train_spec, plan), plan.building,
                           plan.tune_days, plan.storage_kwh, ctx.force)
    tick(progress, STAGES[1], 1, total)
    search = search_sac(store, key_of, train_spec, plan, ctx.force)
    tick(progress, STAGES[2], 2, total)
    agents = train_agents(store, key_of, train_spec, plan, AgentConfig(**search["best"]), ctx.force)
    algo = select_algo(agents)
    tick(progress, STAGES[3], 3, total)
    run_id = f"cooling-{uuid.uuid4().hex[:12]}"
    models = {a: [load_model(Path(r["path"]), a) for r in rows] for a, rows in agents.items()}
    results = evaluate_all(ctx, run_id, eval_specs, plan.building, plan.eval_days, heur, models, algo,
                           rule, plan.storage_kwh)
    tick(progress, STAGES[4], 4, total)
    compact = compact_and_gate(ctx, store, key_of, agents[algo][0]["path"], algo, train_spec,
                               eval_specs, plan, results)
    tick(progress, STAGES[5], 5, total)
    calibration = calibration_run(store, key_of, ctx.data_dir / "building", ctx.force,
                                  plan.calibration_evals)
    goals = targets(results)
    record_saving(ctx, run_id, results, eval_specs, plan.building,
                  make_building(plan.building).p.floor_area_m2, plan.storage_kwh, plan.split)
    card = write_card(ctx, algo, agents, compact, results, goals, plan, fp, heur, rule, calibration)
    tick(progress, "done", total, total)
    train_kwh = sum(f.energy_kwh for f in ctx.ledger.footprints(app="cooling")
                    if f.created_unix_s >= started_unix_s and f.phase in ("train", "compress"))
    reused = sum(r["reused"] for rows in agents.values() for r in rows) + int(search["reused"])
    return CoolingRunSummary(
        run_id=run_id, building=plan.building,
        train_scenario=" & ".join(s.label for s in training_specs(train_spec, plan)),
        eval_scenarios=tuple(s.label for s in eval_specs), agent_algo=algo,
        kpis={n: r.summary() for n, r in results.items()},
        per_scenario={n: r.per_scenario for n, r in results.items()}, targets=goals,
        heuristic_params=heur.to_dict(), carbon_rule_params=rule.to_dict(), search=search,
        compact=compact["summary"], storage_kwh_th=plan.storage_kwh, calibration=calibration,
        training_energy_kwh=train_kwh, reused_runs=reused, card_path=str(card),
        notes=("KPIs are simulated (ISO 13790 5R1C / lumped data hall), June-September, held-out "
               "weather+grid pairs; training energy is measured by core.energy",
               "carbon_rule: tuned on the training pairs with the same tank as the agent"),
    )
