"""Continuous batching on the real model: concurrent streams share decode steps, a cut stream
leaves at once, and the per-request energy split adds up to the batch's meter windows."""

from __future__ import annotations

import threading
import time

import pytest


@pytest.fixture()
def engine(runtime):
    from apps.assistant.batching import BatchEngine
    from core.energy import Meter

    eng = BatchEngine(runtime, Meter(), max_seqs=4, n_ctx_per_seq=256, prefill_chunk=64)
    yield eng
    eng.close()


def _prompt(runtime, text: str) -> list[int]:
    return runtime.chat_prompt_tokens([{"role": "user", "content": text}])


def _drain(stream, seen: list[tuple[str, str]], tag: str, out: dict) -> None:
    from apps.assistant.runtime import Generation

    for item in stream:
        if isinstance(item, Generation):
            out[tag] = item
        else:
            seen.append((tag, item))


def test_two_concurrent_streams_interleave_and_both_complete(engine, runtime):
    a = engine.submit(_prompt(runtime, "Tell me about the sea."), max_tokens=16, ignore_eos=True)
    b = engine.submit(_prompt(runtime, "Tell me about trees."), max_tokens=16, ignore_eos=True)
    seen: list[tuple[str, str]] = []
    done: dict = {}
    threads = [threading.Thread(target=_drain, args=(s, seen, t, done))
               for s, t in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert done["a"].completion_tokens == 16 and done["b"].completion_tokens == 16
    assert done["a"].text and done["b"].text
    stats = engine.stats()
    assert stats.max_batch_size == 2  # both sequences were decoded in the same steps
    # Both streams produced text while the other was still running: neither waited for the other.
    first_b = next(i for i, (tag, _) in enumerate(seen) if tag == "b")
    last_a = max(i for i, (tag, _) in enumerate(seen) if tag == "a")
    assert first_b < last_a


def test_a_cut_stream_leaves_the_batch_at_once(engine, runtime):
    from apps.assistant.runtime import Generation

    a = engine.submit(_prompt(runtime, "Write a long story."), max_tokens=200, ignore_eos=True)
    b = engine.submit(_prompt(runtime, "Write a long poem."), max_tokens=40, ignore_eos=True)
    for _ in range(3):
        assert isinstance(next(a), str)
    a.close()
    cut_at = a.tokens_processed
    final = [x for x in b if isinstance(x, Generation)]
    assert final and final[0].completion_tokens == 40
    # a left before b's remaining steps: at most one more step of a after the close.
    assert a.tokens_processed <= cut_at + 1
    assert a.tokens_processed < len(a._req.prompt) + 10
    assert a.measurement is not None and a.measurement.energy_j > 0
    deadline = time.monotonic() + 30
    while engine._running and time.monotonic() < deadline:
        time.sleep(0.01)  # deadlock guard, not a speed claim
    assert not engine._running and sorted(engine._free) == [0, 1, 2, 3]


def test_energy_split_sums_to_the_batch_windows(runtime):
    from apps.assistant.batching import BatchEngine
    from core.energy import Meter

    meter = Meter()
    eng = BatchEngine(runtime, meter, max_seqs=3, n_ctx_per_seq=256, prefill_chunk=64)
    try:
        streams = [eng.submit(_prompt(runtime, q), max_tokens=n, ignore_eos=True)
                   for q, n in (("Hi.", 6), ("Name a fruit.", 12), ("What is rain?", 9))]
        results: dict = {}
        threads = [threading.Thread(target=_drain, args=(s, [], str(i), results))
                   for i, s in enumerate(streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        eng.close()
    steps = [m for m in meter.history() if m.name == "assistant.batch_step"]
    window_j = sum(m.energy_j for m in steps)
    split_j = sum(s.measurement.energy_j for s in streams)
    assert window_j > 0 and split_j == pytest.approx(window_j, rel=1e-9)
    # Tokens processed: each request's prompt plus its completion tokens but the last (the last
    # sampled token is never fed back), and the steps decoded exactly those tokens.
    assert sum(s.tokens_processed for s in streams) == sum(m.count for m in steps)
    for s, (i, n) in zip(streams, ((0, 6), (1, 12), (2, 9)), strict=True):
        assert results[str(i)].completion_tokens == n
        assert s.tokens_processed == len(s._req.prompt) - s._req.reused + n - 1
        assert "split" in s.measurement.notes[0]


def test_utilisation_in_stats_and_metrics(tmp_path, runtime, service_builder, embedder,
                                          threshold):
    """After two concurrent chats, /v1/assistant/stats and /metrics show the batch engine's
    busy share and batch sizes."""
    from fastapi.testclient import TestClient

    from apps.api.server import create_app
    from apps.assistant.service import register_service
    from apps.context import AppContext
    from apps.settings import Settings
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    ctx = AppContext(data_dir=tmp_path, cache_dir=tmp_path / "cache", models_dir=tmp_path / "m",
                     ledger=Ledger(f"sqlite:///{tmp_path / 'l.db'}"), meter=Meter(),
                     carbon=resolve_source(zone="US-CISO"))
    service = service_builder(ctx, runtime, embedder, threshold, exact_cache=False,
                              semantic_cache=False, grounding=False)
    register_service(ctx, service)
    app = create_app(Settings(zone="US-CISO", cache_dir=tmp_path / "cache", open_reads=True,
                              open_compute=True), ctx=ctx)
    body = {"model": runtime.name, "max_tokens": 8,
            "messages": [{"role": "user", "content": "Name a river."}]}
    with TestClient(app) as client:
        threads = [threading.Thread(target=client.post, args=("/v1/chat/completions",),
                                    kwargs={"json": body}) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stats = client.get("/v1/assistant/stats").json()["batching"]
        metrics = client.get("/metrics").text
    assert stats["steps"] > 0 and 0 < stats["busy_share"] <= 1
    assert stats["max_batch_size"] >= 1 and stats["recent_batch_sizes"]
    assert "greenstack_assistant_busy_share" in metrics
    assert "greenstack_assistant_batch_size_mean" in metrics
    assert "greenstack_assistant_batch_steps_total" in metrics


def test_a_later_request_shares_the_prompt_prefix_and_decodes_only_the_rest(engine, runtime):
    from apps.assistant.runtime import Generation

    system = {"role": "system", "content": "You are a concise assistant."}

    def ask(question: str) -> tuple[object, Generation]:
        ids = runtime.chat_prompt_tokens([system, {"role": "user", "content": question}])
        stream = engine.submit(ids, max_tokens=12)
        return stream, [x for x in stream if isinstance(x, Generation)][0]

    first, _ = ask("What is the tallest mountain on Earth?")
    assert first._req.reused == 0  # nothing cached yet
    second, answer = ask("What is the capital of France?")
    head = len(runtime.chat_prompt_tokens([system, {"role": "user", "content": ""}])) - 8
    assert second._req.reused >= head > 0  # template head and system prompt were shared
    assert second.tokens_processed == len(second._req.prompt) - second._req.reused + \
        answer.completion_tokens - (answer.finish_reason == "length")
    assert "paris" in answer.text.lower()  # the shared cells hold the right positions
    assert engine.stats().prefix_tokens_reused == second._req.reused
