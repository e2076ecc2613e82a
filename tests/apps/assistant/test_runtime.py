"""The llama.cpp boundary: exact token counts, context guard, perplexity, missing files."""

from __future__ import annotations

import pytest

from apps.assistant.runtime import LlamaRuntime, shipped_gguf_path
from core.errors import ModelError

MSGS = [{"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": "What is the capital of France?"}]


def test_stream_counts_match_llama_cpp_usage(runtime):
    for max_tokens in (3, 16):
        gen = runtime.chat(MSGS, max_tokens=max_tokens)
        ref = runtime._llm.create_completion(runtime.chat_prompt_tokens(MSGS),
                                             max_tokens=max_tokens, temperature=0.0, top_p=1.0)
        assert gen.text == ref["choices"][0]["text"]
        assert gen.prompt_tokens == ref["usage"]["prompt_tokens"]
        assert gen.completion_tokens == ref["usage"]["completion_tokens"]
        assert gen.finish_reason == ref["choices"][0]["finish_reason"]


def test_stream_yields_deltas_that_join_to_the_text(runtime):
    items = list(runtime.stream_chat(MSGS, max_tokens=8))
    deltas, final = items[:-1], items[-1]
    assert "".join(deltas) == final.text and final.completion_tokens >= len(deltas) > 0


def test_ignore_eos_generates_exactly_max_tokens(runtime):
    gen = runtime.chat(MSGS, max_tokens=12, ignore_eos=True)
    assert gen.completion_tokens == 12 and gen.finish_reason == "length"


def test_context_overflow_is_refused(runtime):
    with pytest.raises(ModelError, match="context window"):
        runtime.chat(MSGS, max_tokens=runtime.n_ctx)


def test_perplexity_of_english_text_is_finite_and_needs_logits(runtime):
    with pytest.raises(ModelError, match="logits_all"):
        runtime.nll("Four score and seven years ago")
    rt = LlamaRuntime(shipped_gguf_path(), n_ctx=256, logits_all=True)
    text = ("We the People of the United States, in Order to form a more perfect Union, "
            "establish Justice, insure domestic Tranquility, provide for the common defence")
    result = rt.nll(text, window_tokens=128)
    ppl = 2.718281828 ** (result.nll_sum / result.n_tokens)
    assert result.n_tokens > 20 and 1.0 < ppl < 200.0


def test_missing_or_corrupt_model_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        LlamaRuntime(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf")
    with pytest.raises(ModelError, match="could not load"):
        LlamaRuntime(bad)
