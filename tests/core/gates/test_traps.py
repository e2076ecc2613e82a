"""The four traps a gate must catch, each with tiny real models.

Timing verdicts are asserted only where the margin is huge (≥ 10× FLOPs apart, or a candidate
that does strictly more work than its reference), never absolute times.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from core.errors import GateError
from core.gates import (
    BenchmarkConfig,
    Candidate,
    EvalSet,
    GateSpec,
    benchmark_pair,
    compare_runs,
    evaluate_gate,
)
from tests.core.gates.gate_models import (
    accuracy,
    as_candidate,
    blobs,
    distilled_student,
    mlp,
    train,
    weight_only_int8,
)

FAST = BenchmarkConfig(batch_size=256, threads=1, warmup=2, repeats=9, max_units=512)


@pytest.fixture(scope="module")
def task():
    Xa, ya = blobs(3000, seed=1)  # one draw, so train and eval share the class centers
    X, y, Xe, ye = Xa[:2000], ya[:2000], Xa[2000:], ya[2000:]
    ref = train(mlp(32, 512, 4, layers=2), X, y, epochs=3)
    return X, y, Xe, ye, ref


def spec(**kw) -> GateSpec:
    base = dict(metric="accuracy", metric_fn=accuracy, higher_is_better=True, max_drop=0.02,
                max_slice_drop=0.05, min_speedup=2.0, max_size_ratio=0.5)
    return GateSpec(**(base | kw))


def test_trap1_smaller_checkpoint_not_faster_fails_on_speed(task):
    _, _, Xe, ye, ref = task
    small = weight_only_int8(ref)  # 4× smaller on disk, same float32 matmuls + dequantisation
    ref_c, cand_c = as_candidate("ref", ref), as_candidate("w8-storage", small)
    assert cand_c.size_bytes < 0.4 * ref_c.size_bytes
    report = evaluate_gate(ref_c, cand_c, EvalSet("blobs", Xe, ye), spec(), bench=FAST)
    failed = {c.name for c in report.checks if not c.passed}
    assert failed == {"speedup"}, (report.reasons, report.speed)
    assert not report.passed  # quality and size hold; speed does not
    assert report.speed is not None and report.speed.speedup_p25 < 2.0
    assert any("speedup" in r for r in report.reasons)


def test_trap2_average_holds_while_rare_slice_collapses(task):
    X, y, _, _, _ = task
    Xr, yr = blobs(4000, seed=3, rare=3)
    Xtr, ytr, Xe, ye = Xr[:2500], yr[:2500], Xr[2500:], yr[2500:]
    reference = train(mlp(32, 64, 4, layers=1), Xtr, ytr, epochs=4)
    # candidate compressed on data that lacks the rare class: it never predicts class 3
    keep = ytr != 3
    candidate = train(mlp(32, 16, 4, layers=1), Xtr[keep], ytr[keep], epochs=4)
    eval_set = EvalSet("blobs-rare", Xe, ye, slices={"rare_class": ye == 3, "class": ye})
    s = spec(max_drop=0.05, min_speedup=None, max_size_ratio=None)
    report = evaluate_gate(as_candidate("ref", reference), as_candidate("small", candidate),
                           eval_set, s, measure_speed=False)
    assert report.overall.passed  # the average alone would have let it through
    assert report.overall.drop < 0.05
    failed = {c.name for c in report.checks if not c.passed}
    assert failed == {"slice rare_class", "slice class=3"}
    rare = next(x for x in report.slices if x.slice == "rare_class")
    assert rare.reference > 0.9 and rare.candidate < 0.1
    assert not report.passed


def test_trap3_different_batch_size_is_refused(task):
    _, _, Xe, ye, ref = task
    ref_c = as_candidate("ref", ref)
    batched = as_candidate("same-model-batch-256", ref, batch_size=256)
    with pytest.raises(GateError, match="batch_size: 1 vs 256"):
        evaluate_gate(ref_c, batched, EvalSet("blobs", Xe, ye), spec(),
                      bench=BenchmarkConfig(batch_size=1, repeats=3, warmup=0, max_units=32))


def test_trap3_warm_cache_is_refused_and_cleared_cache_runs_cold(task):
    _, _, Xe, ye, ref = task
    base = as_candidate("ref", ref)

    @functools.cache
    def cached(key: bytes):
        return base.predict(np.frombuffer(key, dtype=np.float32).reshape(-1, 32))

    memo = Candidate("memoised", lambda b: cached(b.tobytes()), base.size_bytes, has_cache=True)
    eval_set = EvalSet("blobs", Xe, ye)
    with pytest.raises(GateError, match="cache_state: 'cold' vs 'warm'"):
        evaluate_gate(base, memo, eval_set, spec(), bench=FAST)
    clears: list[int] = []

    def clear() -> None:
        clears.append(1)
        cached.cache_clear()

    honest = Candidate("memoised", memo.predict, base.size_bytes, has_cache=True, clear_cache=clear)
    report = evaluate_gate(base, honest, eval_set, spec(), bench=FAST)
    assert len(clears) == FAST.warmup + FAST.repeats  # cleared before every pass
    assert report.speed is not None and report.speed.candidate.cache_state == "cold"


def test_trap3_runs_from_different_thread_counts_are_refused(task):
    _, _, Xe, _, ref = task
    c = as_candidate("ref", ref)
    one = benchmark_pair(c, c, Xe, BenchmarkConfig(threads=1, repeats=3, warmup=0, max_units=16))
    two = benchmark_pair(c, c, Xe, BenchmarkConfig(threads=2, repeats=3, warmup=0, max_units=16))
    with pytest.raises(GateError, match="threads: 1 vs 2"):
        compare_runs(one.reference, two.candidate)
    other = benchmark_pair(c, c, Xe[16:], BenchmarkConfig(repeats=3, warmup=0, max_units=16))
    with pytest.raises(GateError, match="inputs_hash"):
        compare_runs(one.reference, other.candidate)


def test_trap4_genuinely_better_candidate_passes(task):
    X, y, Xe, ye, ref = task
    student = distilled_student(ref, X, y, hidden=16)  # ~50× fewer MACs than the reference
    rare_mask = ye == 0
    eval_set = EvalSet("blobs", Xe, ye, slices={"class0": rare_mask})
    report = evaluate_gate(as_candidate("ref", ref), as_candidate("student", student), eval_set,
                           spec(), bench=FAST)
    assert report.passed, report.reasons
    assert report.reasons == ()
    assert report.speed is not None and report.speed.speedup > 2.0
    assert report.energy is None and "no meter" in report.energy_note
    d = report.to_dict()
    assert d["verdict"] == "PASS" and d["eval_version"] == eval_set.version


def test_trap4_energy_per_unit_from_the_meter(task, ctx):
    X, y, Xe, ye, ref = task
    student = distilled_student(ref, X, y, hidden=16)
    report = evaluate_gate(as_candidate("ref", ref), as_candidate("student", student),
                           EvalSet("blobs", Xe, ye), spec(min_energy_reduction=0.3),
                           bench=FAST, meter=ctx.meter)
    assert report.energy is not None, report.energy_note
    assert report.energy.method in {"counter", "power_sampled", "modelled"}
    assert report.energy.candidate_j_per_unit < report.energy.reference_j_per_unit
    assert report.passed, report.reasons
