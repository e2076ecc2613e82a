"""AssistantService: energy per request in the ledger, caches with avoided energy, errors, queue."""

from __future__ import annotations

import threading

import pytest

from apps.assistant.queue import AdmissionQueue, QueueFullError
from apps.assistant.schemas import ChatCompletionRequest
from apps.assistant.serving import ContextTooLongError, UnknownModelError


def req(content: str, **kw) -> ChatCompletionRequest:
    return ChatCompletionRequest(model=kw.pop("model", "smollm2-135m-instruct"),
                                 messages=[{"role": "user", "content": content}], **kw)


@pytest.fixture()
def service(make_service):
    return make_service()


def test_miss_then_exact_hit_records_energy_and_avoided_energy(service, ctx):
    first = service.complete(req("What is the capital of France?"))
    assert first.cache == "miss" and first.completion_tokens > 0
    assert first.energy_j > 0 and first.co2e_g > 0 and first.method
    second = service.complete(req("what is the capital of france"))
    assert second.cache == "hit" and second.cache_kind == "exact"
    assert second.text == first.text and second.completion_tokens == 0
    assert 0 < second.energy_avoided_j <= first.energy_j
    assert second.energy_j < first.energy_j
    from core.ledger.serving import serving_book

    serving_book(ctx.ledger).flush(everything=True)  # serving rows are written per minute
    rows = ctx.ledger.footprints(app="assistant", phase="serve")
    assert [r.record_id for r in rows] == [first.ledger_record_id, second.ledger_record_id]
    assert rows[1].energy_j == pytest.approx(second.energy_j)
    assert service.totals.cache_hits == 1 and service.totals.energy_avoided_j > 0


def test_semantic_hit_for_paraphrase_but_not_near_miss(service):
    service.complete(req("What is the capital of France?"))
    para = service.complete(req("Which city is the capital of France?"))
    assert para.cache == "hit" and para.cache_kind == "semantic"
    near = service.complete(req("What is the capital of Germany?"))
    assert near.cache == "miss"


def test_different_parameters_do_not_share_cache_entries(service):
    service.complete(req("Name a colour.", max_tokens=5))
    assert service.complete(req("Name a colour.", max_tokens=6)).cache == "miss"
    assert service.complete(req("Name a colour.", max_tokens=5)).cache == "hit"


def test_sampled_requests_are_not_cached(service):
    service.complete(req("Name a fruit.", temperature=0.9, seed=1))
    assert service.complete(req("Name a fruit.", temperature=0.9, seed=1)).cache == "miss"


def test_history_trimming_counts_saved_tokens(make_service, runtime):
    from apps.assistant.tokens import TokenPolicy

    svc = make_service(policy=TokenPolicy(default_max_tokens=4, history_budget_tokens=80,
                                          summarise=False))
    turns = []
    for i in range(6):
        turns += [{"role": "user", "content": f"Tell me fact number {i} about the ocean."},
                  {"role": "assistant", "content": "The ocean is deep and salty. " * 3}]
    turns.append({"role": "user", "content": "Thanks!"})
    result = svc.complete(ChatCompletionRequest(model=runtime.name, messages=turns))
    assert result.tokens_saved > 0 and result.prompt_tokens <= 80


def test_unknown_model_and_oversized_context(service):
    with pytest.raises(UnknownModelError):
        service.complete(req("hi", model="gpt-4"))
    with pytest.raises(ContextTooLongError):
        service.complete(req("word " * 1200))


def test_streaming_yields_deltas_then_result(service):
    items = list(service.stream(req("Count to three.", max_tokens=6)))
    *deltas, result = items
    assert "".join(deltas) == result.text and result.completion_tokens == 6


def test_queue_refuses_when_full_and_counts():
    queue = AdmissionQueue(capacity=1)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with queue.admit():
            holding.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    holding.wait(5)
    with pytest.raises(QueueFullError) as info, queue.admit():
        pass
    assert info.value.retry_after_s >= 1
    release.set()
    worker.join(5)
    with queue.admit():
        pass
    stats = queue.stats()
    assert stats.refused == 1 and stats.served == 2 and stats.in_system == 0
    assert 0 <= stats.utilisation <= 1


def test_grounded_answer_cites_ledger_records(ctx, make_service):
    ctx.ledger.record_saving(app="cooling", run_id="r1", kind="tuned_control", co2e_kg=12.5,
                             baseline="rule-based", method="simulation")
    svc = make_service()
    result = svc.complete(req("How much CO2 did the cooling agent save this year?"))
    assert result.citations and result.citations[0].startswith("ledger:saving")
    assert result.cache == "miss"
