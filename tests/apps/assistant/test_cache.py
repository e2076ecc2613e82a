"""Exact and semantic caches, threshold tuning on paraphrase / near-miss pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.assistant.cache import (
    SEMANTIC_FLOOR,
    CachedAnswer,
    ExactCache,
    SemanticCache,
    conversation_key,
    guard_tokens,
    namespace,
    normalise,
    tune_threshold,
)
from apps.assistant.evalset import load_eval_set

DATA = Path(__file__).resolve().parents[3] / "data"


def answer(text: str) -> CachedAnswer:
    return CachedAnswer(text, "stop", 10, 5, 1.5, text)


def test_normalise_and_keys_ignore_case_space_and_final_punctuation():
    assert normalise("  What is  the capital of FRANCE?? ") == "what is the capital of france"
    a = conversation_key([{"role": "system", "content": "x"},
                          {"role": "user", "content": "Hi there!"}])
    b = conversation_key([{"role": "user", "content": "hi   there"}])
    assert a == b


def test_namespace_separates_model_system_prompt_and_params():
    base = namespace("m", "sys", {"max_tokens": 10, "temperature": 0.0})
    assert base != namespace("m2", "sys", {"max_tokens": 10, "temperature": 0.0})
    assert base != namespace("m", "sys2", {"max_tokens": 10, "temperature": 0.0})
    assert base != namespace("m", "sys", {"max_tokens": 11, "temperature": 0.0})


def test_exact_cache_is_lru_bounded():
    cache = ExactCache(max_entries=2)
    for key in ("a", "b", "c"):
        cache.put("ns", key, answer(key))
    assert cache.get("ns", "a") is None and cache.get("ns", "c").text == "c"
    assert cache.get("other", "c") is None


def test_guard_tokens_capture_numbers_and_negations():
    assert guard_tokens("What is 2 + 2?") != guard_tokens("What is 2 + 3?")
    assert guard_tokens("Is coal renewable?") != guard_tokens("Is coal non-renewable?")
    assert guard_tokens("What is six times seven?") == guard_tokens("What is 6 times 7?")


def test_threshold_is_tuned_above_every_near_miss(embedder):
    tuning = tune_threshold(embedder, load_eval_set(DATA).pairs)
    assert tuning.threshold >= SEMANTIC_FLOOR
    assert tuning.near_miss_hits == 0
    assert tuning.threshold > tuning.max_near_miss_cosine
    assert 0 < tuning.paraphrase_recall <= 1


def test_capital_of_france_never_answers_capital_of_germany(embedder, threshold):
    cache = SemanticCache(embedder, threshold)
    q = "What is the capital of France?"
    cache.put("ns", q, cache.embed(q), answer("Paris"))
    germany = "What is the capital of Germany?"
    assert cache.get("ns", germany, cache.embed(germany)) is None
    para = "Which city is the capital of France?"
    hit = cache.get("ns", para, cache.embed(para))
    assert hit is not None and hit[0].text == "Paris" and hit[1] >= threshold
    assert cache.get("other-ns", para, cache.embed(para)) is None


def test_threshold_below_floor_is_refused(embedder):
    with pytest.raises(ValueError, match="floor"):
        SemanticCache(embedder, 0.5)
