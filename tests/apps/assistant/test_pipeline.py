"""`greenstack run assistant` on a trimmed copy of the shipped data: weights gate, serving
configuration search and gate, card, reuse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from apps.assistant.config_search import SearchOptions
from apps.assistant.gate import GateConfig

TINY_GATE = GateConfig(answer_max_tokens=8, ppl_window_tokens=64, bench_tokens=6,
                       bench_warmup=1, bench_repeats=3, n_ctx=768)
TINY_SEARCH = SearchOptions(max_tokens=(8,), naive_max_tokens=12, variants=2, min_budget=4,
                            max_budget=12, finalists=2)


@pytest.mark.slow
def test_pipeline_gates_weights_and_serving_config_writes_card_and_reuses(ctx, small_data):
    from apps.assistant.config_search import MAX_CATEGORY_DROP_PTS, MAX_DROP_PTS
    from apps.assistant.pipeline import RunConfig, run
    from apps.assistant.served import load_served_runtime, served_config
    from apps.assistant.serving import ServeConfig
    from core.gates import ModelCard

    ctx = replace(ctx, data_dir=small_data)
    config = RunConfig(candidates=("Q4_1", "Q2_K"), gate=TINY_GATE, search=TINY_SEARCH)
    summary = run(ctx, config)
    gate = summary.gate
    by_name = {c.name: c for c in gate.candidates}
    # Q2_K re-quantisation of a 576-wide model loses far more than 3 % perplexity.
    assert not by_name["Q2_K"].perplexity_passed and not by_name["Q2_K"].passed
    assert by_name["Q2_K"].tok_per_s is None  # not benchmarked once it cannot pass
    assert by_name["Q4_1"].perplexity_passed and by_name["Q4_1"].j_per_token is not None

    s = summary.search
    assert s["space"]["variants"] == ["F32", "Q4_1"]  # Q2_K failed perplexity: not searched
    assert s["space_size"] == 1 + 2 * 1 * 2 * 2 * 4
    first_round = [t for t in s["tried"] if t["budget"] == 4]
    assert len(first_round) == s["space_size"]  # every configuration tried once ...
    assert len(s["tried"]) < 2 * s["space_size"]  # ... and halving dropped most after that
    for t in s["tried"]:
        assert t["j_per_answered_request"] > 0 and 0 <= t["quality_pct"] <= 100
    d = summary.to_dict()
    for key in ("served_config", "quality_naive_pct", "quality_served_pct",
                "quality_by_category", "j_per_request_naive", "j_per_request_served"):
        assert key in d
    assert set(d["quality_by_category"]) == {"arithmetic", "facts", "follow-ups", "grounding",
                                             "instructions", "summaries", "sustainability"}
    if s["served_is_naive"]:
        assert d["served_config"] == TINY_SEARCH.naive().to_dict()
    else:  # the bounds held on the held-back part and the served one is cheaper
        assert d["quality_served_pct"] >= d["quality_naive_pct"] - MAX_DROP_PTS
        for q in d["quality_by_category"].values():
            assert q["served"] >= q["naive"] - MAX_CATEGORY_DROP_PTS
        assert d["j_per_request_served"] < d["j_per_request_naive"]
    lo, hi = s["held"]["served"]["quality_ci_pct"]
    assert lo <= d["quality_served_pct"] <= hi

    card = ModelCard.load(summary.card_path)
    assert card.metrics["serving"]["tried"] == s["tried"]
    assert card.metrics["serving"]["served_config"] == d["served_config"]
    assert served_config(ctx).policy.default_max_tokens == d["served_config"]["max_tokens"]
    runtime, reason = load_served_runtime(ctx, ServeConfig(n_ctx=768))
    assert runtime.name == d["served_config"]["variant"] and reason

    again = run(ctx, config)
    assert again.gate_reused and again.replay_reused
    assert again.search["served_config"] == d["served_config"]
    kinds = {s.kind for s in ctx.ledger.savings(app="assistant")}
    assert "reuse" in kinds
