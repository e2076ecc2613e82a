"""Serving the compact cooling policy only if its gate ran on the eval set serving would use now."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3] / "data"
GATE_DAYS, START_DAY = 1, 181


@pytest.fixture(scope="module")
def teacher_zip(tmp_path_factory) -> Path:
    """An untrained (deterministic) PPO teacher saved like the pipeline's reference."""
    from apps.cooling.agents import AgentConfig, build_model, make_env
    from apps.cooling.scenario import default_train_spec

    path = tmp_path_factory.mktemp("teacher") / "cooling-agent-ppo-seed0.zip"
    build_model(AgentConfig(algo="ppo", net_width=8), make_env((default_train_spec(),), "office")).save(path)
    return path


@pytest.fixture()
def site(tmp_path: Path, teacher_zip: Path):
    """(card path, data dir): a private copy of the held-out files, a teacher, a compact policy and
    a card whose gate PASSED on the eval set those inputs give."""
    from apps.cooling.compact import NumpyPolicy
    from apps.cooling.gate_eval import card_entry, gate_eval_inputs
    from apps.cooling.scenario import held_out_specs
    from core.gates import ModelCard, ModelRef

    data = tmp_path / "data"
    for spec in held_out_specs("office"):
        for src in (Path(spec.weather), Path(spec.grid)):
            (data / src.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, data / src.parent.name / src.name)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copyfile(teacher_zip, models / teacher_zip.name)
    rng = np.random.default_rng(0)
    NumpyPolicy(rng.normal(size=(24, 32)).astype(np.float32), np.zeros(32, np.float32),
                rng.normal(size=(32, 1)).astype(np.float32), np.zeros(1, np.float32)
                ).to_npz(models / "compact.npz")
    inputs = gate_eval_inputs(models / teacher_zip.name, held_out_specs("office", data), "office",
                              GATE_DAYS, START_DAY)
    gate = {"candidate": "compact-mlp32", "eval_version": "a" * 64, "passed": True,
            "verdict": "PASS", "reasons": []}
    card = ModelCard(app="cooling", name="cooling-agent",
                     reference=ModelRef(name="ppo-actor", path=teacher_zip.name),
                     candidate=ModelRef(name="compact-mlp32", path="compact.npz"),
                     metrics={"compact": {"kpi_within_bounds": True}, "agent_algo": "ppo"},
                     gates=(gate,), protocol={"gate_eval_set": card_entry("a" * 64, inputs)},
                     eval_version="a" * 64)
    return card.save(models / "cooling-agent.card.json"), data


def _served(card_path: Path, data: Path) -> str:
    from apps.cooling.bms_model import served_policy
    from apps.cooling.safety import OFFICE_ENVELOPE

    return served_policy(card_path, OFFICE_ENVELOPE, data)[1]


def test_unchanged_inputs_serve_the_gated_compact_policy(site) -> None:
    card_path, data = site
    assert _served(card_path, data).endswith("/compact-mlp32")


def test_changed_held_out_data_is_another_eval_set_and_refused(site, caplog) -> None:
    from apps.cooling.gate_eval import eval_version_now
    from core.gates import ModelCard, load_served_choice

    card_path, data = site
    grid = next((data / "grid").iterdir())
    grid.write_bytes(grid.read_bytes() + b"\n")  # the held-out grid file was revised
    now = eval_version_now(ModelCard.load(card_path), card_path, data)
    assert now.version != "a" * 64 and "held-out weather/grid files" in now.reason
    choice = load_served_choice(card_path, now.version)
    assert choice.served == "reference" and "rerun the gate" in choice.reason
    assert _served(card_path, data).endswith("/ppo-reference")


def test_later_gate_on_another_eval_set_is_refused(site) -> None:
    from core.gates import ModelCard

    card_path, data = site
    card = ModelCard.load(card_path)
    other = {**card.gates[-1], "eval_version": "b" * 64}  # gated elsewhere, on other states
    # as ModelCard.with_gate records it: the card's own eval_version follows the latest gate
    card.model_copy(update={"gates": (*card.gates, other), "eval_version": "b" * 64}).save(card_path)
    assert _served(card_path, data).endswith("/ppo-reference")


def test_changed_teacher_and_unrecorded_inputs_are_refused(site, teacher_zip: Path) -> None:
    from apps.cooling.agents import AgentConfig, build_model, make_env
    from apps.cooling.gate_eval import eval_version_now
    from apps.cooling.scenario import default_train_spec
    from core.gates import ModelCard

    card_path, data = site
    card = ModelCard.load(card_path)
    build_model(AgentConfig(algo="ppo", net_width=8, seed=1),
                make_env((default_train_spec(),), "office")).save(card_path.parent / teacher_zip.name)
    assert "teacher" in eval_version_now(card, card_path, data).reason
    assert _served(card_path, data).endswith("/ppo-reference")
    bare = card.model_copy(update={"protocol": {}})
    now = eval_version_now(bare, card_path, data)
    assert now.version == "unrecorded" and "does not record" in now.reason


def test_same_inputs_build_the_same_eval_set(teacher_zip: Path) -> None:
    """The premise of storing inputs instead of rebuilding: the rollout is deterministic."""
    assert _rebuilt_version(teacher_zip, DATA) == _rebuilt_version(teacher_zip, DATA)


def test_code_fingerprint_follows_the_rollout_imports() -> None:
    from apps.cooling.gate_eval import ROOT_MODULES, _module_closure

    closure = _module_closure(ROOT_MODULES)
    assert {"apps.cooling.env", "apps.cooling.office", "apps.cooling.scenario"} <= closure
    assert not {"apps.cooling.bms", "apps.cooling.page", "apps.cooling.pipeline",
                "apps.cooling.service", "apps.cooling.gating"} & closure


def _rebuilt_version(teacher_zip: Path, data: Path) -> str:
    from apps.cooling.agents import actor_network, load_model
    from apps.cooling.compact import gate_eval_set
    from apps.cooling.scenario import held_out_specs
    from apps.cooling.train import rollout_states

    teacher = load_model(teacher_zip, "ppo")
    obs, slices = rollout_states(teacher, held_out_specs("office", data), "office",
                                 days=GATE_DAYS, start_day=START_DAY)
    return gate_eval_set(actor_network(teacher), obs, slices).version


def _old_card(card_path: Path, gated_version: str) -> None:
    """The card as written before cards recorded their eval-set inputs."""
    from core.gates import ModelCard

    card = ModelCard.load(card_path)
    gate = {**card.gates[-1], "eval_version": gated_version}
    card.model_copy(update={"gates": (gate,), "eval_version": gated_version,
                            "protocol": {"plan": {"eval_days": GATE_DAYS}, "building": "office"}}
                    ).save(card_path)


def test_recheck_records_inputs_only_when_the_rebuilt_eval_set_is_the_gated_one(site, teacher_zip,
                                                                               ctx, capsys) -> None:
    import dataclasses

    from apps.cooling import cli
    from apps.cooling.gating import recheck_card
    from core.gates import ModelCard

    card_path, data = site
    _old_card(card_path, "c" * 64)  # gated on states today's code and data do not produce
    assert _served(card_path, data).endswith("/ppo-reference")
    res = recheck_card(card_path, data)
    assert not res.recorded and res.rebuilt_version != res.gated_version
    assert "gate_eval_set" not in ModelCard.load(card_path).protocol  # left as it was

    _old_card(card_path, _rebuilt_version(teacher_zip, data))
    ctx = dataclasses.replace(ctx, data_dir=data, models_dir=card_path.parent.parent)
    target = ctx.app_models_dir("cooling") / card_path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    for f in card_path.parent.iterdir():
        shutil.copyfile(f, target.parent / f.name)

    class Args:
        building = "office"

    assert cli.recheck_gate(Args, lambda: ctx) == 0
    assert "inputs are now recorded" in capsys.readouterr().out
    assert _served(target, data).endswith("/compact-mlp32")
