"""The assistant's savings views count as core.impact does; its saving's baseline names its cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.impact import ImpactReport

OLD_BASELINE = ("naive serving: F32 reference, verbose system prompt, full history, no caches, "
                "96-token cap")  # booked verbatim before the text was derived from the config


def _seed(ledger, app: str, kind: str) -> None:
    """Two runs of one estimate (only the second counts) and two reuse events (both count);
    ids 1-5 in this order: estimate 10 kg, reuse 0.5 kg, monitoring 100 kg, estimate 12 kg,
    reuse 0.25 kg."""
    book = ledger.record_saving
    book(app=app, run_id="r1", kind=kind, co2e_kg=10.0, co2e_kg_low=8.0, co2e_kg_high=12.0,
         baseline="naive", method="replay")
    book(app=app, run_id="r1", kind="reuse", co2e_kg=0.5, baseline="rerun", method="core.runs")
    book(app=app, run_id="r1", kind="monitoring", co2e_kg=100.0, baseline="b", method="m")
    book(app=app, run_id="r2", kind=kind, co2e_kg=12.0, co2e_kg_low=9.0, co2e_kg_high=15.0,
         baseline="naive", method="replay")
    book(app=app, run_id="r2", kind="reuse", co2e_kg=0.25, baseline="rerun", method="core.runs")


def test_grounding_sums_and_cites_only_counted_savings(ctx, tmp_path: Path) -> None:
    from apps.assistant.grounding import retrieve

    _seed(ctx.ledger, "cooling", "cooling_control")
    for question in ("How much CO2 did the cooling agent save?",
                     "How much CO2 did the cooling agent save this year?"):
        g = retrieve(question, ctx.ledger, tmp_path / "models")
        [fact] = [f for f in g.facts if "saved" in f]
        assert fact.startswith("cooling saved 12.75 kgCO2e")  # not 22.75: r1's estimate is old
        assert "range 9.75-15.75" in fact and "3 records counted" in fact
        assert "1 older estimates superseded" in fact
        assert g.citations[g.facts.index(fact)] == "ledger:savings#2,4-5"  # #1 and #3 not cited
    expected = ImpactReport.from_ledger(ctx.ledger, app="cooling").savings.co2e_kg
    assert expected == pytest.approx(12.75)


def test_grounding_single_counted_saving_cites_one_record(ctx, tmp_path: Path) -> None:
    from apps.assistant.grounding import retrieve

    for kg in (3.0, 4.0):
        ctx.ledger.record_saving(app="cooling", run_id="r", kind="cooling_control", co2e_kg=kg,
                                 baseline="naive", method="sim")
    g = retrieve("How much CO2 did the cooling agent save?", ctx.ledger, tmp_path)
    assert g.citations[0] == "ledger:saving#2" and g.facts[0].startswith("cooling saved 4 kgCO2e")


def test_page_booked_savings_follow_the_superseding_rule(ctx) -> None:
    from apps.assistant.service import AssistantService

    _seed(ctx.ledger, "assistant", "efficient_serving")
    grams, note, _ = AssistantService(ctx).booked_savings()
    assert grams == pytest.approx(12_750.0)
    assert "3 saving records counted; 1 older estimates superseded" in note


def _stats(label: str, co2e_kg: float):
    from apps.assistant.summary import ReplayStats

    return ReplayStats(label=label, model="F32", conversations=2, requests=3, prompt_tokens=90,
                       completion_tokens=30, tokens_saved=0, energy_j=co2e_kg * 1e7,
                       co2e_kg=co2e_kg, p50_latency_s=0.1, p95_latency_s=0.2,
                       cache_hit_rate=0.0, quality=1.0, graded=2, method="modelled")


def test_saving_baseline_states_the_replayed_cap(ctx) -> None:
    from apps.assistant.card import book_saving, naive_baseline
    from apps.assistant.served import naive_config

    assert naive_baseline(naive_config()) == OLD_BASELINE  # old records still superseded
    book_saving(ctx, "k1", _stats("naive", 3e-5), _stats("efficient", 1e-5), naive_config(12))
    book_saving(ctx, "k2", _stats("naive", 4e-5), _stats("efficient", 1e-5), naive_config(12))
    first, second = ctx.ledger.savings(app="assistant")
    assert second.baseline == first.baseline
    assert first.baseline.endswith("no caches, 12-token cap") and "96" not in first.baseline
    report = ImpactReport.from_ledger(ctx.ledger, app="assistant")
    assert report.savings.co2e_kg == pytest.approx(3e-5) and report.savings.superseded == 1


def test_saving_baseline_describes_an_efficient_config_as_such() -> None:
    from apps.assistant.card import naive_baseline
    from apps.assistant.serving import ServeConfig

    text = naive_baseline(ServeConfig())
    assert "short system prompt" in text and "history trimmed to 192 tokens" in text
    assert "exact + semantic cache" in text and text.endswith("48-token cap")
