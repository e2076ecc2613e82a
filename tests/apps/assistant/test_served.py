"""Which configuration and weights the assistant serves, decided from one read of the card."""

from __future__ import annotations

import pytest

from apps.assistant.config_search import ServingChoice
from apps.assistant.served import card_path, load_served_runtime, served
from apps.assistant.serving import ServeConfig
from apps.assistant.serving_set import load_serving_set
from core.errors import ModelError
from core.gates import ModelCard, ModelRef

CHOICE = ServingChoice("Q4_1", 24, "short", "full", "exact")


def _save_card(ctx, serving: dict | None) -> None:
    ModelCard(app="assistant", name="smollm2-135m-instruct", reference=ModelRef(name="F32"),
              metrics={"serving": serving} if serving else {}).save(card_path(ctx))


@pytest.fixture()
def card_reads(monkeypatch):
    """Counts reads of a model card through core.gates."""
    reads = []
    load = ModelCard.load.__func__

    def counted(cls, path):
        reads.append(path)
        return load(cls, path)

    monkeypatch.setattr(ModelCard, "load", classmethod(counted))
    return reads


def test_service_reads_the_card_once_for_configuration_and_weights(ctx, card_reads):
    from apps.assistant.service import service_for

    _save_card(ctx, {"serving_set_version": load_serving_set(ctx.data_dir).version,
                     "served_config": CHOICE.to_dict(), "served_reason": "cheapest passing"})
    svc = service_for(ctx)
    assert svc.config == CHOICE.serve_config()
    assert svc.runtime.name == "Q4_1" and svc.served_reason == "Q4_1: cheapest passing"
    assert len(card_reads) == 1


def test_a_search_on_another_serving_set_falls_back_to_defaults_and_the_weights_gate(ctx):
    _save_card(ctx, {"serving_set_version": "0" * 16, "served_config": CHOICE.to_dict()})
    decision = served(ctx)
    assert decision.config == ServeConfig()
    assert decision.variant == "F32" and "no compressed candidate" in decision.reason


def test_corrupt_card_serves_the_reference_with_the_reason(ctx):
    path = card_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    decision = served(ctx)
    assert decision.config == ServeConfig() and decision.variant == "F32"
    assert "corrupt" in decision.reason


def test_no_card_is_a_clear_error_when_the_weights_are_needed(ctx):
    decision = served(ctx)
    assert decision.variant is None and decision.config == ServeConfig()
    with pytest.raises(ModelError, match="greenstack run assistant"):
        load_served_runtime(ctx, decision.config, decision)


def test_a_card_written_after_the_service_started_is_read_at_first_use(ctx):
    from apps.assistant.service import service_for

    svc = service_for(ctx)  # no card yet: hand-set defaults, weights unknown
    assert svc.config == ServeConfig()
    _save_card(ctx, {"serving_set_version": load_serving_set(ctx.data_dir).version,
                     "served_config": CHOICE.to_dict(), "served_reason": "cheapest passing"})
    assert svc.runtime.name == "Q4_1"
