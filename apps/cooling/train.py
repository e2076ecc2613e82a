"""Training stages of the cooling pipeline, each a reusable run in core.runs' RunStore (so its
compute is metered by core.energy and recorded in the ledger, and a finished run is reused).

- heuristic tuning (grid of rule settings on the training season),
- carbon-rule tuning (grid of rule settings on the training pairs, with the plan's tank),
- hyperparameter search for SAC by successive halving (core.runs.successive_halving),
- final SAC and PPO agents, one run per seed,
- the compact policy (distillation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from apps.cooling.agents import AgentConfig, AgentController, actor_network, load_model, train
from apps.cooling.baselines import CarbonRuleParams, HeuristicParams, NaiveController
from apps.cooling.env import CoolingEnv
from apps.cooling.evaluate import tune_carbon_rule, tune_heuristic, validation_score
from apps.cooling.kpis import rollout
from apps.cooling.scenario import ScenarioSpec

log = logging.getLogger(__name__)
APP = "cooling"


@dataclass(frozen=True)
class TrainPlan:
    """How much to train. Defaults keep ``greenstack run cooling`` near 3 minutes on 2 cores."""

    building: str = "office"
    seeds: tuple[int, ...] = (0, 1, 2)
    sac_steps: int = 6000  # hourly control steps = 250 simulated days
    ppo_steps: int = 20000
    search_min_steps: int = 1500
    search_space: tuple[tuple[float, float], ...] = ((1e-3, 0.95), (3e-4, 0.95), (1e-3, 0.99),
                                                     (3e-4, 0.99))  # (learning rate, gamma)
    validation_days: int = 61  # June-July of the training scenario
    tune_days: int = 61  # heuristic tuning window on the training scenario
    eval_days: int | None = None  # None: 1 June-30 September; tests use a few days
    # Agents also train on the training weather paired with these grids, so they learn to read
    # the CI forecast instead of one grid's time-of-day pattern (held-out BAs stay unseen).
    extra_train_grids: tuple[str, ...] = ("CISO_NG_avgCI_2022.csv.gz",)
    # Chilled-water tank, kWh thermal (0: none, the plant as without storage support) and random
    # demand-response events in the training episodes (apps.cooling.env.RANDOM_DR_DAY_PROBABILITY).
    storage_kwh: float = 0.0
    random_dr: bool = False
    calibration_evals: int = 300  # Nelder-Mead evaluations per mass class (apps.cooling.calibration)
    split: str = "default"  # training vs held-out pairs, apps.cooling.scenario.SPLITS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_store_and_keys(ctx: Any, files: list[str]) -> tuple[Any, Callable[[dict], str], str]:
    """(run store, run-key function, data fingerprint): keys cover the config, the input files'
    bytes and the source of core + this app (an edit to either starts fresh runs)."""
    from core.runs import fingerprint_paths, run_key

    fp = fingerprint_paths(files)

    def key_of(cfg: dict[str, Any]) -> str:
        return run_key(cfg, fp)  # code version: core + this app's package

    return ctx.run_store(), key_of, fp


def training_specs(spec: ScenarioSpec, plan: TrainPlan) -> tuple[ScenarioSpec, ...]:
    """The training scenario plus its weather paired with ``plan.extra_train_grids``, and the
    split's extra training weather paired with every training grid."""
    from apps.cooling.scenario import extra_train_weather

    grid_dir, weather_dir = Path(spec.grid).parent, Path(spec.weather).parent
    grids = (spec.grid, *(str(grid_dir / g) for g in plan.extra_train_grids))
    pairs = [spec, *(replace(spec, grid=g) for g in grids[1:])]
    pairs += [replace(spec, weather=str(weather_dir / w), grid=g)
              for w in extra_train_weather(plan.split) for g in grids]
    return tuple(pairs)


def _validate(model: Any, spec: ScenarioSpec, building: str, days: int,
              storage_kwh: float = 0.0) -> float:
    env = CoolingEnv((spec,), building=building, random_start=False, storage_kwh=storage_kwh)
    kpis, _ = rollout(env, AgentController(model), days=days)
    return validation_score(kpis)


def search_sac(store: Any, key_of: Callable[[dict], str], spec: ScenarioSpec, plan: TrainPlan,
               force: bool) -> dict[str, Any]:
    """Successive halving over (learning rate, gamma); returns the winner and the trials."""
    from core.runs import successive_halving

    configs = [AgentConfig("sac", lr, g, seed=100).to_dict() for lr, g in plan.search_space]

    def fn(artifacts: Path) -> dict[str, Any]:
        def score(cfg: dict[str, Any], budget: float) -> float:
            agent = AgentConfig(**cfg).with_steps(int(budget))
            path = train(agent, training_specs(spec, plan), plan.building,
                         artifacts / f"trial-{configs.index(cfg)}-{int(budget)}",
                         storage_kwh=plan.storage_kwh, random_dr=plan.random_dr)
            return _validate(load_model(path, "sac"), spec, plan.building, plan.validation_days,
                             plan.storage_kwh)

        result = successive_halving(configs, score, min_budget=plan.search_min_steps,
                                    max_budget=plan.sac_steps / 2, eta=2, higher_is_better=False)
        return {"best": result.best_config, "search": result.to_dict() | {"measurement": None}}

    key = key_of({"stage": "sac-search", "plan": plan.to_dict(), "spec": asdict(spec)})
    res = store.get_or_run(key, fn, app=APP, phase="train", force=force)
    return dict(res.outputs) | {"reused": res.reused}


def train_agents(store: Any, key_of: Callable[[dict], str], spec: ScenarioSpec, plan: TrainPlan,
                 best: AgentConfig, force: bool) -> dict[str, list[dict[str, Any]]]:
    """Final SAC (best config) and PPO agents, one reusable run per seed."""
    out: dict[str, list[dict[str, Any]]] = {"sac": [], "ppo": []}
    for algo in ("sac", "ppo"):
        for seed in plan.seeds:
            cfg = (AgentConfig(**{**best.to_dict(), "seed": seed, "steps": plan.sac_steps})
                   if algo == "sac" else AgentConfig("ppo", 3e-4, 0.95, seed=seed, steps=plan.ppo_steps))

            def fn(artifacts: Path, cfg: AgentConfig = cfg) -> dict[str, Any]:
                path = train(cfg, training_specs(spec, plan), plan.building, artifacts / "model",
                             storage_kwh=plan.storage_kwh, random_dr=plan.random_dr)
                model = load_model(path, cfg.algo)
                return {"model": path.name, "config": cfg.to_dict(),
                        "validation_score": _validate(model, spec, plan.building,
                                                      plan.validation_days, plan.storage_kwh)}

            key = key_of({"stage": "agent", "config": cfg.to_dict(), "spec": asdict(spec),
                          "building": plan.building}
                         | ({"storage_kwh": plan.storage_kwh, "random_dr": plan.random_dr}
                            if plan.storage_kwh or plan.random_dr else {}))
            res = store.get_or_run(key, fn, app=APP, phase="train", force=force)
            out[algo].append({**res.outputs, "path": str(res.artifacts_dir / res.outputs["model"]),
                              "reused": res.reused,
                              "energy_kwh": res.measurement.energy_kwh if res.measurement else None})
    return out


def select_algo(agents: dict[str, list[dict[str, Any]]]) -> str:
    """The algorithm with the better mean validation score (training validation window only)."""
    return min(agents, key=lambda a: float(np.mean([r["validation_score"] for r in agents[a]])))


def heuristic_run(store: Any, key_of: Callable[[dict], str], spec: ScenarioSpec, plan: TrainPlan,
                  force: bool) -> HeuristicParams:
    """Tune the heuristic's rules on the training season (a reusable run)."""
    def fn(artifacts: Path) -> dict[str, Any]:
        env = CoolingEnv((spec,), building=plan.building, random_start=False)
        naive, _ = rollout(env, NaiveController(env.envelope), days=plan.tune_days)
        params, kpis = tune_heuristic(spec, plan.building, naive.discomfort_kh, plan.tune_days)
        return {"params": params.to_dict(), "kpis": kpis.to_dict()}

    key = key_of({"stage": "heuristic", "spec": asdict(spec), "building": plan.building})
    res = store.get_or_run(key, fn, app=APP, phase="train", force=force)
    return HeuristicParams(**res.outputs["params"])


def carbon_rule_run(store: Any, key_of: Callable[[dict], str], specs: tuple[ScenarioSpec, ...],
                    building: str, days: int, storage_kwh: float, force: bool) -> CarbonRuleParams:
    """Tune the carbon rule on the training pairs with the given tank (a reusable run)."""
    def fn(artifacts: Path) -> dict[str, Any]:
        env = CoolingEnv(specs, building=building, random_start=False, storage_kwh=storage_kwh)
        naive = [rollout(env, NaiveController(env.envelope), scenario=i, days=days)[0]
                 for i in range(len(specs))]
        params, kpis = tune_carbon_rule(specs, building,
                                        float(np.mean([k.discomfort_kh for k in naive])), days,
                                        storage_kwh)
        return {"params": params.to_dict(), "kpis": kpis}

    key = key_of({"stage": "carbon-rule", "specs": [asdict(s) for s in specs], "building": building,
                  "days": days, "storage_kwh": storage_kwh})
    res = store.get_or_run(key, fn, app=APP, phase="train", force=force)
    return CarbonRuleParams(**res.outputs["params"])


def rollout_states(model: Any, specs: tuple[ScenarioSpec, ...], building: str, days: int,
                   start_day: int, storage_kwh: float = 0.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Observations visited by ``model`` (for distillation / the gate) and slice masks."""
    env = CoolingEnv(specs, building=building, random_start=False, storage_kwh=storage_kwh)
    ctrl = AgentController(model)
    obs_rows, occ, high_ci, dr = [], [], [], []
    for i in range(len(specs)):
        env.episode_days = days
        obs, _ = env.reset(seed=0, options={"scenario": i, "start_day": start_day})
        done = False
        while not done:
            obs_rows.append(obs)
            occ.append(obs[4] > 0.5)
            high_ci.append(obs[12] > np.median(obs[13:21]))
            dr.append(obs[22] > 0.5)
            obs, _, _, done, _ = env.step(np.asarray(ctrl.act(obs, {}), np.float32).reshape(-1))
    slices = {"occupied": np.array(occ), "ci_above_24h_median": np.array(high_ci)}
    if any(dr):
        slices["dr_event_soon"] = np.array(dr)
    return np.array(obs_rows, np.float32), slices


def compact_run(store: Any, key_of: Callable[[dict], str], teacher_path: str, algo: str,
                spec: ScenarioSpec, plan: TrainPlan, force: bool) -> Path:
    """Distil the SAC actor into the compact MLP on the training season's states."""
    from apps.cooling.compact import distill_policy

    def fn(artifacts: Path) -> dict[str, Any]:
        model = load_model(Path(teacher_path), algo)
        obs, _ = rollout_states(model, (spec,), plan.building, days=plan.eval_days or 122,
                                start_day=151, storage_kwh=plan.storage_kwh)
        policy = distill_policy(actor_network(model), obs)
        policy.to_npz(artifacts / "compact.npz")
        return {"file": "compact.npz", "n_states": len(obs)}

    key = key_of({"stage": "compact", "teacher": Path(teacher_path).parent.name, "plan": plan.to_dict()})
    res = store.get_or_run(key, fn, app=APP, phase="compress", force=force)
    return res.artifacts_dir / res.outputs["file"]
