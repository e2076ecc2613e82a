"""The learned policies' tank action (issue 16): a residual on the carbon-spread dispatch, the
same in training (ResidualTank), in the agent and compact controllers and so on the BMS path."""

from __future__ import annotations

import numpy as np
import pytest

from apps.cooling.env import CI_24H_SLICE, CI_NOW_INDEX, build_observation, policy_tank_command
from apps.cooling.safety import OFFICE_ENVELOPE
from apps.cooling.storage import carbon_spread_command


def _obs(ci_now: float, ci_ahead: float) -> np.ndarray:
    return build_observation(
        hour=3.0, day=180, occupied=False, occupied_next=False, outdoor_c=24.0,
        outdoor_forecast_c=np.full(3, 24.0), temp_c=27.0, setpoint_c=28.0, ci_g_per_kwh=ci_now,
        ci_3h_means_24h=np.full(8, ci_ahead), price_usd_per_kwh=0.08, dr_now=False,
        dr_soon=False, envelope=OFFICE_ENVELOPE, soc=0.0)


def test_carbon_spread_command_charges_clean_hours_and_discharges_dirty_ones():
    assert carbon_spread_command(300.0, 400.0) == 1.0  # 25 % cleaner than the day ahead
    assert carbon_spread_command(390.0, 400.0) == pytest.approx(0.25)
    assert carbon_spread_command(440.0, 400.0) == -1.0
    assert carbon_spread_command(400.0, 400.0) == 0.0
    assert carbon_spread_command(400.0, 0.0) == 0.0  # no forecast: no base dispatch


def test_policy_tank_command_reads_the_observation_and_adds_the_residual():
    obs = _obs(390.0, 400.0)
    assert obs[CI_NOW_INDEX] == pytest.approx(390.0 / 500.0)
    assert obs[CI_24H_SLICE].mean() == pytest.approx(400.0 / 500.0)
    assert policy_tank_command(obs, 0.0) == pytest.approx(0.25, abs=1e-5)
    assert policy_tank_command(obs, -0.5) == pytest.approx(-0.25, abs=1e-5)
    assert policy_tank_command(obs, 2.0) == 1.0


def test_residual_tank_wrapper_and_controllers_apply_the_same_dispatch():
    """A zero residual in a clean night hour charges the tank in training, and the agent and
    compact controllers serve base + their network's output."""
    import torch

    from apps.cooling.agents import (
        TANK_LOG_STD_INIT,
        AgentConfig,
        AgentController,
        ResidualTank,
        build_model,
        make_env,
    )
    from apps.cooling.compact import NumpyPolicy
    from apps.cooling.scenario import default_train_spec

    env = make_env((default_train_spec(),), "office", storage_kwh=200.0)
    assert isinstance(env, ResidualTank)
    obs, _ = env.reset(seed=0, options={"start_day": 180})
    tank = env.unwrapped.tank
    charged = 0
    for _ in range(48):  # a zero residual charges in every hour cleaner than the day ahead
        soc, clean = tank.soc, policy_tank_command(obs, 0.0) > 0.05
        obs, _, _, _, info = env.step(np.array([0.0, 0.0], np.float32))
        if clean and soc < 0.9:
            assert info["soc"] > soc
            charged += 1
    assert charged > 0

    model = build_model(AgentConfig(algo="ppo", net_width=8), env)
    assert float(model.policy.log_std.detach()[1]) == pytest.approx(TANK_LOG_STD_INIT)
    agent = AgentController(model)
    with torch.no_grad():
        raw = agent.actor(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)).numpy()[0]
    assert agent.act(obs, {})[1] == pytest.approx(policy_tank_command(obs, float(raw[1])))

    rng = np.random.default_rng(0)
    compact = NumpyPolicy(rng.normal(0, 0.1, (25, 32)).astype(np.float32), np.zeros(32, np.float32),
                          rng.normal(0, 0.1, (32, 2)).astype(np.float32), np.zeros(2, np.float32))
    out = compact.act(obs, {})
    assert out[1] == pytest.approx(policy_tank_command(obs, float(compact.predict(obs[None])[0, 1])))
