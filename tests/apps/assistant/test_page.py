"""The chat page under AppTest: empty state, and an answer captioned with J/token and gCO2e."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script(ctx) -> None:
    from apps.assistant.page import render

    render(ctx)


def test_empty_page_says_how_to_produce_a_model(ctx) -> None:
    at = AppTest.from_function(_script, kwargs={"ctx": ctx}, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert any("greenstack run assistant" in i.value for i in at.info)


def test_chat_answer_shows_energy_per_token_and_savings(ctx, make_service) -> None:
    from apps.assistant.served import card_path
    from apps.assistant.service import register_service
    from core.gates import ModelCard, ModelRef

    ModelCard(app="assistant", name="smollm2-135m-instruct", reference=ModelRef(name="F32"),
              metrics={"served": "Q4_1", "reference": {"name": "F32", "perplexity": 12.0},
                       "candidates": []},
              protocol={"reference_note": "dequantised Q4_1"}).save(card_path(ctx))
    register_service(ctx, make_service())
    at = AppTest.from_function(_script, kwargs={"ctx": ctx}, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric][0] == "requests this session"
    at.chat_input[0].set_value("What is the capital of France?").run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "J/token" in captions and "mgCO2e" in captions and "cache miss" in captions
    assert at.metric[0].value == "1"
    # Utilisation of the batch engine: the answer was decoded in steps the page counts.
    steps = next(m for m in at.metric if m.label == "decode steps")
    assert int(steps.value) > 0
    assert any(m.label == "engine busy share" for m in at.metric)
