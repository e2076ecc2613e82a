"""Why the agents' tank action is a residual on the carbon-spread dispatch: PPO variants trained
on a split's training pairs with a tank, scored side by side on the validation window (the first
training pair, 1 June + ``TrainPlan.validation_days``; never held-out data), CO2 vs naive.

Variants (all PPO with the pipeline's hyperparameters, :func:`apps.cooling.agents.build_model`):
- ``plain``: the tank output is the charge/discharge command itself, exploration std 1;
- ``plain-shaped``: plain + potential-based shaping (Ng et al. 1999) of the stored energy's value
  (stored kWh_th / COP x the reward's price of a kWh at the next 24 h's mean intensity);
- ``plain-target``: the tank output is a target state of charge (reached at the rate limit);
- ``residual-std1``: the residual of :class:`apps.cooling.agents.ResidualTank`, exploration std 1;
- ``residual``: what the pipeline trains (residual, tank exploration std 0.22).

A ``tank idle`` column rolls the same policy out with its tank output replaced by "hold": equal
to the policy's own number when it never charges. Simulated; one row per variant and seed.
Run from the repository root: ``python benchmarks/cooling_tank_policy.py`` (about 2 min per
100 k steps and row on one core), e.g. ``--variants residual --steps 50000 100000 200000``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np

from apps.cooling.agents import AgentConfig, ResidualTank, actor_network, build_model
from apps.cooling.baselines import NaiveController
from apps.cooling.env import CI_24H_SLICE, SEASON_FIRST_DAY, CoolingEnv, policy_action
from apps.cooling.kpis import rollout
from apps.cooling.scenario import default_train_spec
from apps.cooling.storage import HOURS_TO_FULL
from apps.cooling.train import TrainPlan, training_specs

VARIANTS = ("plain", "plain-shaped", "plain-target", "residual-std1", "residual")


class _Shaped(gym.Wrapper):
    """Adds gamma * phi(s') - phi(s), phi = stored kWh_th / COP x (energy price + CO2 price x
    mean CI of the next 24 h), per 100 m2 as the reward (policy-invariant shaping)."""

    def __init__(self, env: CoolingEnv, gamma: float) -> None:
        super().__init__(env)
        self.gamma, self.phi = gamma, 0.0

    def _potential(self, obs: np.ndarray, cop: float) -> float:
        env = self.env.unwrapped
        w, ci = env.weights, float(obs[CI_24H_SLICE].mean()) * 500.0  # obs holds CI / 500
        value = (w.energy_per_kwh + w.co2_per_kg * ci / 1000.0) / cop
        return env.tank.stored_kwh_th * value / (env.sc.floor_area_m2 / 100.0)

    def reset(self, **kwargs: Any) -> Any:
        self.phi = 0.0  # the tank starts empty
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, reward, term, trunc, info = self.env.step(action)
        phi = self._potential(obs, _cop(self.env.unwrapped))
        reward += self.gamma * phi - self.phi
        self.phi = phi
        return obs, reward, term, trunc, info


def _cop(env: CoolingEnv) -> float:
    """The chiller COP of the current step's outdoor air (the office model's Carnot fraction)."""
    from apps.cooling.physics import carnot_cop

    p = env.building.p
    t_out = float(env.sc.temp_out_c[min(env.k, env.sc.n_steps - 1)])
    return carnot_cop(p.evaporator_c, t_out + p.condenser_approach_k, p.cop_carnot_fraction)


def _target_command(target_action: float, soc: float, hours_to_full: float) -> float:
    """Tank command that moves the state of charge toward (action + 1) / 2 within the hour."""
    return float(np.clip(((target_action + 1.0) / 2.0 - soc) * hours_to_full, -1.0, 1.0))


class _Target(gym.Wrapper):
    def step(self, action: Any) -> Any:
        a = np.asarray(action, np.float32).reshape(-1).copy()
        tank = self.env.unwrapped.tank
        a[1] = _target_command(float(a[1]), tank.soc, tank.p.hours_to_full)
        return self.env.step(a)


class _Policy:
    """The trained actor as a controller, its tank output read as the variant reads it."""

    def __init__(self, model: Any, variant: str, idle_tank: bool = False) -> None:
        self.actor, self.variant, self.idle = actor_network(model), variant, idle_tank

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> Any:
        import torch

        with torch.no_grad():
            raw = self.actor(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)).numpy()[0]
        if self.variant.startswith("residual"):
            out = np.asarray(policy_action(obs, raw), float)
        elif self.variant == "plain-target":
            out = raw.astype(float)
            out[1] = _target_command(float(raw[1]), state["soc"], HOURS_TO_FULL)
        else:
            out = raw.astype(float)
        if self.idle:
            out[1] = 0.0
        return out


def train_variant(variant: str, specs: tuple, steps: int, seed: int, gamma: float,
                  storage_kwh: float) -> Any:
    """A PPO model trained on ``specs`` with the variant's tank action and exploration."""
    env: gym.Env = CoolingEnv(specs, storage_kwh=storage_kwh, random_dr=True)
    env = ResidualTank(env) if variant.startswith("residual") else env
    env = _Shaped(env, gamma) if variant == "plain-shaped" else env
    env = _Target(env) if variant == "plain-target" else env
    model = build_model(AgentConfig("ppo", 3e-4, gamma, seed=seed, steps=steps), env)
    if variant != "residual":  # the others explore the tank with std 1, as the setpoint
        import torch

        with torch.no_grad():
            model.policy.log_std[1] = 0.0
    model.learn(total_timesteps=steps, progress_bar=False)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=["plain", "residual"])
    ap.add_argument("--steps", nargs="+", type=int, default=[100_000], help="PPO control steps")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--gamma", type=float, default=0.95)
    ap.add_argument("--storage", type=float, default=200.0, help="tank, kWh thermal")
    ap.add_argument("--split", default="desert-held-out")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    plan = TrainPlan(storage_kwh=args.storage, random_dr=True, split=args.split)
    spec = default_train_spec("office", split=args.split)
    specs = training_specs(spec, plan)
    env = CoolingEnv((spec,), random_start=False, storage_kwh=args.storage)
    days = plan.validation_days
    naive = rollout(env, NaiveController(env.envelope), start_day=SEASON_FIRST_DAY, days=days)[0]
    rows = []
    for variant in args.variants:
        for steps in args.steps:
            for seed in args.seeds:
                t0 = time.perf_counter()
                model = train_variant(variant, specs, steps, seed, args.gamma, args.storage)
                train_s = time.perf_counter() - t0
                own, trace = rollout(env, _Policy(model, variant), days=days)
                idle = rollout(env, _Policy(model, variant, idle_tank=True), days=days)[0]
                rows.append({"variant": variant, "steps": steps, "seed": seed,
                             "co2_vs_naive_pct": 100 * (own.co2_kg_per_m2 / naive.co2_kg_per_m2 - 1),
                             "tank_idle_pct": 100 * (idle.co2_kg_per_m2 / naive.co2_kg_per_m2 - 1),
                             "mean_soc": float(trace.soc.mean()),
                             "discomfort_kh": own.discomfort_kh, "train_s": train_s})
    head = (f"validation window: {spec.label}, {days} days from 1 June, {args.storage:g} kWh tank, "
            f"gamma {args.gamma}; CO2 vs naive (simulated)")
    if args.json:
        print(json.dumps({"what": head, "rows": rows}))
        return
    print(head)
    print(f"{'variant':15s} {'steps':>7s} {'seed':>4s} {'CO2 %':>7s} {'tank idle %':>11s} "
          f"{'mean SoC':>8s} {'disc. Kh':>8s} {'train s':>7s}")
    for r in rows:
        print(f"{r['variant']:15s} {r['steps']:7d} {r['seed']:4d} {r['co2_vs_naive_pct']:7.2f} "
              f"{r['tank_idle_pct']:11.2f} {r['mean_soc']:8.2f} {r['discomfort_kh']:8.2f} "
              f"{r['train_s']:7.0f}")


if __name__ == "__main__":
    main()
