"""Token discipline: default max_tokens, system prompt, trimming and summarising."""

from __future__ import annotations

from apps.assistant.tokens import SHORT_SYSTEM_PROMPT, TokenPolicy, prepare


def words(messages) -> int:
    """A deterministic token counter for unit tests: one token per word plus 4 per message."""
    return sum(len(m["content"].split()) + 4 for m in messages)


def convo(n_turns: int) -> list[dict[str, str]]:
    out = []
    for i in range(n_turns):
        out.append({"role": "user", "content": f"question {i} " + "word " * 20})
        out.append({"role": "assistant", "content": f"answer {i} " + "word " * 20})
    out.append({"role": "user", "content": "last question?"})
    return out


def test_short_conversation_gets_system_prompt_and_default_max_tokens():
    p = prepare([{"role": "user", "content": "hi"}], None, TokenPolicy(default_max_tokens=40),
                words)
    assert p.messages[0] == {"role": "system", "content": SHORT_SYSTEM_PROMPT}
    assert p.max_tokens == 40 and p.tokens_saved == 0


def test_client_system_prompt_and_max_tokens_are_kept():
    msgs = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]
    p = prepare(msgs, 7, TokenPolicy(), words)
    assert [m["content"] for m in p.messages] == ["Be terse.", "hi"] and p.max_tokens == 7


def test_long_history_is_trimmed_to_budget_and_keeps_last_turn():
    policy = TokenPolicy(history_budget_tokens=100, summarise=False)
    p = prepare(convo(6), None, policy, words)
    assert words(p.messages) <= 100
    assert p.messages[-1]["content"] == "last question?"
    assert p.tokens_saved == p.prompt_tokens_before - p.prompt_tokens_after > 0


def test_dropped_turns_are_summarised_when_the_summary_fits():
    seen = []

    def summariser(dropped):
        seen.extend(dropped)
        return "user asked questions 0-3"

    policy = TokenPolicy(history_budget_tokens=120)
    p = prepare(convo(6), None, policy, words, summariser)
    assert seen and p.summarised_messages == len(seen)
    assert any("Summary of the earlier conversation" in m["content"] for m in p.messages)
    assert words(p.messages) <= 120


def test_oversized_summary_is_dropped_not_overflowing():
    policy = TokenPolicy(history_budget_tokens=80)
    p = prepare(convo(6), None, policy, words, lambda d: "long " * 500)
    assert words(p.messages) <= 80 or len(p.messages) <= 3
    assert not any("Summary" in m["content"] for m in p.messages)


def test_real_token_counts_trim_with_the_model_template(runtime):
    count = lambda ms: len(runtime.chat_prompt_tokens(ms))  # noqa: E731
    policy = TokenPolicy(history_budget_tokens=120, summarise=False)
    p = prepare(convo(5), None, policy, count)
    assert p.prompt_tokens_after == count(p.messages) <= 120 < p.prompt_tokens_before
