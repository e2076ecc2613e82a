"""`greenstack run assistant` on a trimmed copy of the shipped data: gate, card, replay, reuse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from apps.assistant.gate import GateConfig

TINY_GATE = GateConfig(answer_max_tokens=8, ppl_window_tokens=64, bench_tokens=6,
                       bench_warmup=1, bench_repeats=3, n_ctx=512)


@pytest.mark.slow
def test_pipeline_gates_writes_card_replays_and_reuses(ctx, small_data):
    from apps.assistant.pipeline import load_served_runtime, run_pipeline
    from apps.assistant.serving import ServeConfig
    from core.gates import ModelCard

    ctx = replace(ctx, data_dir=small_data)
    summary = run_pipeline(ctx, candidates=("Q4_1", "Q2_K"), conversations=3,
                           gate_config=TINY_GATE, naive_max_tokens=12)
    gate = summary.gate
    by_name = {c.name: c for c in gate.candidates}
    # Q2_K re-quantisation of a 576-wide model loses far more than 3 % perplexity.
    assert not by_name["Q2_K"].perplexity_passed and not by_name["Q2_K"].passed
    assert by_name["Q2_K"].tok_per_s is None  # not benchmarked once it cannot pass
    assert by_name["Q4_1"].perplexity_passed and by_name["Q4_1"].j_per_token is not None
    assert gate.served in {"Q4_1", "F32"}
    card = ModelCard.load(summary.card_path)
    assert card.metrics["served"] == gate.served and "dequantised" in card.protocol[
        "reference_note"]
    assert summary.naive.requests == summary.efficient.requests >= 3
    assert summary.naive.energy_j > 0 and summary.efficient.energy_j > 0
    assert summary.naive.prompt_tokens > summary.efficient.prompt_tokens  # verbose vs short
    runtime, reason = load_served_runtime(ctx, ServeConfig())
    assert runtime.name == gate.served and gate.served in reason
    again = run_pipeline(ctx, candidates=("Q4_1", "Q2_K"), conversations=3,
                         gate_config=TINY_GATE, naive_max_tokens=12)
    assert again.gate_reused and again.replay_reused
    assert again.gate.served == gate.served
    assert [c.to_dict() for c in again.gate.candidates] == [c.to_dict() for c in gate.candidates]
    kinds = {s.kind for s in ctx.ledger.savings(app="assistant")}
    assert "reuse" in kinds
