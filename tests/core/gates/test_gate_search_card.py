"""Gate errors, energy without a meter, cheapest-passing search, model cards and serving choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import GateError, ModelError
from core.gates import (
    BenchmarkConfig,
    Candidate,
    EvalSet,
    GateSpec,
    ModelCard,
    ModelRef,
    evaluate_gate,
    load_served_choice,
    select_cheapest_passing,
)
from tests.core.gates.gate_models import accuracy, as_candidate, blobs, mlp, train

TINY = BenchmarkConfig(batch_size=64, repeats=3, warmup=1, max_units=128)


@pytest.fixture(scope="module")
def setup():
    Xa, ya = blobs(1600, seed=5)
    X, y, Xe, ye = Xa[:1200], ya[:1200], Xa[1200:], ya[1200:]
    ref = train(mlp(32, 128, 4), X, y, epochs=3)
    small = train(mlp(32, 8, 4, layers=1), X, y, epochs=6)
    return EvalSet("blobs", Xe, ye, slices={"c0": ye == 0}), ref, small


def _spec(**kw):
    base = dict(metric="accuracy", metric_fn=accuracy, higher_is_better=True, max_drop=0.03,
                max_slice_drop=0.05)
    return GateSpec(**(base | kw))


def test_output_shape_mismatch_and_count_are_refused(setup):
    es, ref, _ = setup
    ref_c = as_candidate("ref", ref)
    logits = Candidate("logits", lambda b: ref(__import__("torch").from_numpy(b)).detach(), 1)
    with pytest.raises(GateError, match="output shapes differ"):
        evaluate_gate(ref_c, logits, es, _spec(), measure_speed=False)
    short = Candidate("short", lambda b: np.zeros(max(len(b) - 1, 1)), 1)
    with pytest.raises(GateError, match="one output per unit"):
        evaluate_gate(ref_c, short, es, _spec(), measure_speed=False)


def test_energy_threshold_without_meter_fails_with_reason(setup):
    es, ref, small = setup
    report = evaluate_gate(as_candidate("ref", ref), as_candidate("small", small), es,
                           _spec(min_energy_reduction=0.2), bench=TINY)
    assert not report.passed
    assert any(r.startswith("energy:") and "no meter" in r for r in report.reasons)
    json.dumps(report.to_dict())  # JSON-ready


def test_nan_outputs_fail_not_pass(setup):
    es, ref, _ = setup
    nan = Candidate("nan", lambda b: np.full(len(b), np.nan), 1)
    rmse = GateSpec(metric="rmse", metric_fn=lambda t, p: float(np.sqrt(np.mean((t - p) ** 2))),
                    higher_is_better=False, max_drop=100.0)
    num = Candidate("num", lambda b: np.zeros(len(b)), 1)
    report = evaluate_gate(num, nan, es, rmse, measure_speed=False)
    assert not report.passed and "metric" in report.reasons[0]


def test_select_cheapest_passing_tries_in_cost_order_and_records_all(setup):
    es, ref, small = setup
    ref_c = as_candidate("ref", ref)
    broken = Candidate("constant", lambda b: np.zeros(len(b), dtype=np.int64), 10)
    refused = Candidate("batch-fixed", ref_c.predict, 20, batch_size=999)
    good = as_candidate("small", small)
    worse = as_candidate("ref-copy", ref)
    res = select_cheapest_passing(ref_c, [worse, good, refused, broken], es, _spec(),
                                  bench=TINY)
    names = [t.name for t in res.tried]
    assert names == ["constant", "batch-fixed", "small"]
    assert not res.tried[0].passed and res.tried[0].report is not None
    assert res.tried[1].error is not None and "batch_size" in res.tried[1].error
    assert res.chosen is not None and res.chosen.name == "small"
    assert res.untried == ("ref-copy",)
    json.dumps(res.to_dict())


def test_select_cheapest_passing_without_speed_measurement(setup):
    es, ref, small = setup
    ref_c, good = as_candidate("ref", ref), as_candidate("small", small)
    broken = Candidate("constant", lambda b: np.zeros(len(b), dtype=np.int64), 10)
    res = select_cheapest_passing(ref_c, [good, broken], es, _spec(), measure_speed=False)
    assert [t.name for t in res.tried] == ["constant", "small"] and res.chosen is good
    assert all(t.report is not None and t.report.speed is None for t in res.tried)
    # a speedup threshold needs the measurement, so it is taken anyway
    timed = select_cheapest_passing(ref_c, [good], es, _spec(min_speedup=1e-6), bench=TINY,
                                    measure_speed=False)
    assert timed.tried[0].report is not None and timed.tried[0].report.speed is not None


def test_card_roundtrip_and_served_choice(tmp_path, setup):
    es, ref, small = setup
    report = evaluate_gate(as_candidate("ref", ref), as_candidate("small", small), es, _spec(),
                           measure_speed=False)
    assert report.passed, report.reasons
    card = ModelCard(app="demo", name="blobs", reference=ModelRef(name="ref", path="ref.pt"),
                     candidate=ModelRef(name="small", path="small.pt"), metrics={"acc": 1.0})
    path = card.with_gate(report).save(tmp_path / "demo" / "blobs.card.json")
    loaded = ModelCard.load(path)
    assert loaded.latest_gate is not None and loaded.latest_gate["verdict"] == "PASS"
    choice = load_served_choice(path, es.version)
    assert choice.served == "candidate" and choice.path == tmp_path / "demo" / "small.pt"
    stale = load_served_choice(path, "0" * 64)
    assert stale.served == "reference" and "rerun the gate" in stale.reason
    failing = evaluate_gate(as_candidate("ref", ref), as_candidate("small", small), es,
                            _spec(max_size_ratio=1e-6), measure_speed=False)
    loaded.with_gate(failing).save(path)
    after = load_served_choice(path, es.version)
    assert after.served == "reference" and "FAILED" in after.reason and after.name == "ref"


def test_missing_or_corrupt_card_serves_reference(tmp_path):
    missing = load_served_choice(tmp_path / "none.card.json", "abc")
    assert missing.served == "reference" and "no model card" in missing.reason
    bad = tmp_path / "bad.card.json"
    bad.write_text("{not json")
    assert "corrupt" in load_served_choice(bad, "abc").reason
    assert bad.read_text() == "{not json"  # left as it was
    with pytest.raises(ModelError):
        ModelCard.load(bad)
