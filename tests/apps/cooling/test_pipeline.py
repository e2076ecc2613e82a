"""A tiny real pipeline run (short training, 3 evaluation days): every stage, ledger rows,
model card, reuse on the second run, the CLI's evaluate --json, and the dashboard page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY = {"seeds": (0, 1), "sac_steps": 240, "ppo_steps": 336, "search_min_steps": 60,
        "validation_days": 2, "tune_days": 3, "eval_days": 3,
        "search_space": ((1e-3, 0.95), (3e-4, 0.95)), "calibration_evals": 20}
DATA = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    from apps.context import AppContext
    from apps.cooling.service import CoolingService
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    tmp = tmp_path_factory.mktemp("cooling")
    ctx = AppContext(data_dir=DATA, cache_dir=tmp / "cache", models_dir=tmp / "models",
                     ledger=Ledger(f"sqlite:///{tmp / 'ledger.db'}"), meter=Meter(),
                     carbon=resolve_source(zone="US-ERCO"))
    stages = []
    summary = CoolingService(ctx).run_pipeline(progress=lambda s, d, n: stages.append(s), **TINY)
    return ctx, summary, stages


def test_pipeline_produces_every_stage(ran):
    ctx, s, stages = ran
    assert stages[0] == "tune heuristic + carbon rule" and stages[-1] == "done"
    assert set(s.kpis) >= {"naive", "ashrae", "heuristic", "carbon_rule", "agent", "sac", "ppo",
                           "compact"}
    assert s.targets["rules"]["best_rule"] in ("heuristic", "carbon_rule")
    assert set(s.targets["rules"]["agent_co2_vs_naive_pct_per_pair"]) == set(s.eval_scenarios)
    for row in s.kpis.values():
        assert row["co2_kg_per_m2"]["mean"] > 0 and row["energy_kwh_per_m2"]["mean"] > 0
    assert s.kpis["sac"]["co2_kg_per_m2"]["n_seeds"] == 2
    assert {"cooling_demand", "indoor_temperature"} <= set(s.calibration["metrics"])
    assert len(s.search["search"]["trials"]) == 3  # 2 configs, then the survivor at 2x budget
    assert "gate_passed" in s.compact and s.compact["served"] in ("compact", s.agent_algo)
    assert Path(s.card_path).is_file()
    phases = {f.phase for f in ctx.ledger.footprints(app="cooling")}
    assert {"train", "compress", "evaluate"} <= phases
    assert [x.kind for x in ctx.ledger.savings(app="cooling", kind="cooling_control")]
    json.dumps(s.to_dict(), default=str)


def test_card_records_what_its_gate_eval_set_was_built_from(ran):
    from apps.cooling.gate_eval import eval_version_now
    from core.gates import ModelCard

    ctx, s, _ = ran
    card = ModelCard.load(s.card_path)
    assert card.protocol["gate_eval_set"]["version"] == card.latest_gate["eval_version"]
    now = eval_version_now(card, Path(s.card_path), ctx.data_dir)  # what serving computes
    assert (now.version, now.reason) == (card.latest_gate["eval_version"], "")


def test_second_run_reuses_finished_runs(ran):
    from apps.cooling.service import CoolingService

    ctx, first, _ = ran
    again = CoolingService(ctx).run_pipeline(**TINY)
    assert again.reused_runs >= 5 and again.training_energy_kwh == 0.0
    assert again.kpis["sac"]["co2_kg_per_m2"] == first.kpis["sac"]["co2_kg_per_m2"]


def test_cli_evaluate_json(ran, capsys):
    from apps.cooling import cli

    ctx, _, _ = ran

    class Args:
        weather = DATA / "weather" / "723170TYA.CSV.gz"  # a TMY3 file, never used in training
        grid = DATA / "grid" / "BPAT_NG_avgCI_2022.csv.gz"
        building, days, json = "office", 2, True

    assert cli.evaluate(Args, lambda: ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["controllers"]) == {"naive", "ashrae", "heuristic", "carbon_rule", "agent"}
    for row in out["controllers"].values():
        assert {"energy_kwh_per_m2", "co2_kg_per_m2", "cost_per_m2", "discomfort_kh",
                "peak_kw"} <= set(row)


def test_page_renders_with_and_without_a_run(ran, ctx):
    from streamlit.testing.v1 import AppTest

    script = ("import pickle, sys\nfrom apps.cooling import page\n"
              "page.render(pickle.loads(sys.argv_ctx))\n")
    for context in (ctx, ran[0]):
        import pickle

        at = AppTest.from_string(script.replace("sys.argv_ctx", repr(pickle.dumps(_plain(context)))))
        at.run(timeout=60)
        assert not at.exception


def _plain(ctx):
    """Contexts hold engines; rebuild from paths inside the page's process."""
    return _Rebuild(ctx)


class _Rebuild:
    def __init__(self, ctx):
        self.paths = (ctx.data_dir, ctx.cache_dir, ctx.models_dir, str(ctx.ledger.engine.url))

    def __reduce__(self):
        return (_make_ctx, self.paths)


def _make_ctx(data_dir, cache_dir, models_dir, url):
    from apps.context import AppContext
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    return AppContext(data_dir=data_dir, cache_dir=cache_dir, models_dir=models_dir,
                      ledger=Ledger(url), meter=Meter(), carbon=resolve_source(zone="US-ERCO"))


def test_recommendation_serves_the_trained_policy(ran):
    from datetime import UTC, datetime

    from apps.cooling.schemas import TelemetryIn
    from apps.cooling.service import CoolingService

    ctx, _, _ = ran
    bms = CoolingService(ctx).bms
    bms.ingest("site", TelemetryIn(zone="z", timestamp=datetime.now(UTC), points={
        "Zone_Air_Temperature_Sensor": 25.0, "Occupancy_Sensor": 1.0,
        "Zone_Air_Temperature_Setpoint": 24.0}))
    rec = bms.recommend("site", "z", utc_offset_h=-6)
    assert rec["action"] == "write" and rec["model_version"].startswith("cooling-agent@")
    assert 23.0 <= rec["setpoint_c"] <= 25.0  # within 1 K of the current 24 degC setpoint


def test_pipeline_with_a_tank_trains_two_action_agents_and_gates_them(ran, capsys):
    """Issue 16: ``--storage KWH`` trains SAC/PPO with [setpoint, tank] actions, tunes the carbon
    rule with the same tank, distils and gates a 25-32-2 compact policy, and writes its own card
    (the BMS keeps serving the office card without a tank)."""
    from apps.cooling import cli
    from apps.cooling.service import CoolingService
    from core.gates import ModelCard

    ctx, plain, _ = ran
    s = CoolingService(ctx).run_pipeline(**{**TINY, "seeds": (0,), "storage_kwh": 150.0,
                                            "random_dr": True, "split": "desert-held-out"})
    assert s.storage_kwh_th == 150.0 and s.card_path != plain.card_path
    assert s.card_path.endswith("cooling-agent-storage150-desert-held-out.card.json")
    assert s.eval_scenarios[0] == "USA_AZ_Phoenix-Sky+BPAT" and len(s.eval_scenarios) == 4
    assert "USA_AZ_Phoenix-Sky" not in s.train_scenario
    card = ModelCard.load(s.card_path)
    assert card.metrics["storage_kwh_th"] == 150.0 and card.latest_gate is not None
    assert "carbon_rule" in s.kpis and "gate_passed" in s.compact

    class Args:
        weather = DATA / "weather" / "723170TYA.CSV.gz"
        grid = DATA / "grid" / "BPAT_NG_avgCI_2022.csv.gz"
        building, days, json, storage = "office", 2, True, 150.0

    assert cli.evaluate(Args, lambda: ctx) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["storage_kwh_th"] == 150.0 and out["agent_uses_storage"] is True
    assert {"carbon_rule", "agent"} <= set(out["controllers"])
    assert "dr_shed_kwh_per_m2" in out["controllers"]["carbon_rule"]
