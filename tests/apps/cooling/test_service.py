"""CoolingService reads one card per building/tank/split: its agents, its compact policy and the
carbon rule it was judged against; rule tuning is one grid search for both rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3] / "data"
# A setting outside the tuning grid, so only the card can be its source.
CARD_RULE = {"low_quantile": 0.1, "high_quantile": 0.9, "price_weight": 0.0, "edge_c": 25.2,
             "precool_c": 24.6, "precool_hours": 0, "setback_c": 28.0}


@pytest.fixture(scope="module")
def teacher_zip(tmp_path_factory) -> Path:
    """An untrained (deterministic) PPO agent saved like a pipeline seed."""
    from apps.cooling.agents import AgentConfig, build_model, make_env
    from apps.cooling.scenario import default_train_spec

    path = tmp_path_factory.mktemp("agent") / "agent.zip"
    build_model(AgentConfig(algo="ppo", net_width=8), make_env((default_train_spec(),), "office")).save(path)
    return path


def _policy(value: float):
    from apps.cooling.compact import NumpyPolicy

    return NumpyPolicy(np.zeros((24, 32), np.float32), np.zeros(32, np.float32),
                       np.zeros((32, 1), np.float32), np.full(1, value, np.float32))


def _storage_card(models: Path, teacher_zip: Path, storage_kwh: float, split: str) -> Path:
    """A card as a ``--storage --split`` run writes it, with no candidate path (an older gate)."""
    import shutil

    from apps.cooling.baselines import HeuristicParams
    from apps.cooling.card import card_path_for, prefix
    from core.gates import ModelCard, ModelRef

    models.mkdir(parents=True, exist_ok=True)
    seed = f"{prefix('office', storage_kwh, split)}-ppo-seed0.zip"
    shutil.copyfile(teacher_zip, models / seed)
    card = ModelCard(app="cooling", name="cooling-agent",
                     reference=ModelRef(name="ppo-actor", path=seed), candidate=None,
                     metrics={"agent_algo": "ppo", "seed_files": [seed],
                              "heuristic_params": HeuristicParams().to_dict(),
                              "carbon_rule_params": CARD_RULE, "storage_kwh_th": storage_kwh},
                     protocol={"plan": {"storage_kwh": storage_kwh, "split": split},
                               "building": "office"})
    return card.save(card_path_for(models, "office", storage_kwh, split))


def test_load_agents_finds_the_compact_policy_of_the_runs_tank_and_split(tmp_path, teacher_zip):
    from apps.cooling.card import load_agents

    card = _storage_card(tmp_path, teacher_zip, 150.0, "desert-held-out")
    _policy(0.5).to_npz(tmp_path / "cooling-agent-storage150-desert-held-out-compact-mlp32.npz")
    _policy(-0.5).to_npz(tmp_path / "cooling-agent-compact-mlp32.npz")  # the plain office run's
    algo, models, _, compact = load_agents(card, "office")
    assert algo == "ppo" and len(models) == 1
    assert compact is not None and float(compact.b2[0]) == 0.5


def test_missing_agent_files_name_the_command_with_tank_and_split(tmp_path, teacher_zip):
    from apps.cooling.card import load_agents
    from core.errors import ModelError

    card = _storage_card(tmp_path, teacher_zip, 150.0, "desert-held-out")
    (tmp_path / "cooling-agent-storage150-desert-held-out-ppo-seed0.zip").unlink()
    with pytest.raises(ModelError, match="--storage 150 --split desert-held-out"):
        load_agents(card, "office")


def test_evaluation_and_page_take_the_carbon_rule_from_the_card(ctx, teacher_zip):
    """One source: the rule the card's agent was judged against, for `cooling evaluate` and the
    page's week (no tuning run happens: the run store stays empty)."""
    from apps.cooling.baselines import CarbonRuleParams, HeuristicParams
    from apps.cooling.card import load_agents
    from apps.cooling.evaluate import week_traces
    from apps.cooling.service import CoolingService

    _storage_card(ctx.app_models_dir("cooling"), teacher_zip, 150.0, "desert-held-out")
    svc = CoolingService(ctx)
    assert svc.carbon_rule("office", 150.0) == CarbonRuleParams(**CARD_RULE)
    out = svc.evaluate_files(DATA / "weather" / "723170TYA.CSV.gz",
                             DATA / "grid" / "BPAT_NG_avgCI_2022.csv.gz", "office", 1, 150.0)
    assert out["carbon_rule_params"] == CARD_RULE
    assert out["card"] == "cooling-agent-storage150-desert-held-out.card.json"
    # the page's pairs for that tank are its card's split's: Phoenix+BPA first, not Dallas+MISO
    assert svc.held_out_labels(storage_kwh=150.0)[0] == "USA_AZ_Phoenix-Sky+BPAT"
    assert svc.held_out_labels()[0] == "USA_TX_Dallas-Fort+MISO"
    traces = svc.week_traces(0, storage_kwh=150.0)
    agent = load_agents(svc.card_path_for("office", 150.0, "desert-held-out"), "office")[1][0]
    direct = week_traces(svc.specs("office", "desert-held-out")[1], "office", agent,
                         HeuristicParams(), 0, 196, CarbonRuleParams(**CARD_RULE), 150.0)
    np.testing.assert_array_equal(traces["carbon_rule"].setpoint_c, direct["carbon_rule"].setpoint_c)
    np.testing.assert_array_equal(traces["carbon_rule"].soc, direct["carbon_rule"].soc)
    assert not any((ctx.cache_dir / "runs").rglob("*"))  # nothing was tuned


def test_grid_tune_keeps_the_least_co2_within_the_discomfort_bound():
    from apps.cooling.baselines import HeuristicController, HeuristicParams
    from apps.cooling.env import CoolingEnv
    from apps.cooling.evaluate import grid_tune
    from apps.cooling.scenario import default_train_spec

    env = CoolingEnv((default_train_spec(),), random_start=False)
    cool, warm = HeuristicParams(relaxed_c=24.0, precool_hours=0), HeuristicParams(relaxed_c=25.8,
                                                                                     precool_hours=0)
    params, rows = grid_tune(env, [cool, warm], lambda p: HeuristicController(env.envelope, p),
                             0.0, 2, "heuristic")
    assert params == warm and len(rows) == 1
    with pytest.raises(RuntimeError, match="no heuristic setting"):
        grid_tune(env, [cool, warm], lambda p: HeuristicController(env.envelope, p), -1.0, 2,
                  "heuristic")
