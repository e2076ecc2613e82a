"""Any GGUF: GREENSTACK_ASSISTANT_MODEL / --model, checked at start, named everywhere."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from apps.assistant.config_search import SearchOptions
from apps.assistant.gate import GateConfig

TINY_GATE = GateConfig(answer_max_tokens=8, ppl_window_tokens=64, bench_tokens=6,
                       bench_warmup=1, bench_repeats=3, n_ctx=768)


@pytest.fixture()
def not_gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_text("this is a text file, not model weights\n")
    return path


def test_a_non_gguf_file_is_refused_with_the_reason(not_gguf, tmp_path):
    from apps.assistant.model_file import check_gguf
    from core.errors import ModelError

    with pytest.raises(ModelError, match="is not a GGUF file.*convert"):
        check_gguf(not_gguf)
    with pytest.raises(ModelError, match="does not exist"):
        check_gguf(tmp_path / "missing.gguf")
    with pytest.raises(ModelError, match="is not a file"):
        check_gguf(tmp_path)


def test_settings_refuse_a_bad_model_at_start(not_gguf, monkeypatch):
    from pydantic import ValidationError

    from apps.settings import Settings

    monkeypatch.setenv("GREENSTACK_ASSISTANT_MODEL", str(not_gguf))
    with pytest.raises(ValidationError, match="not a GGUF file"):
        Settings()


def test_cli_refuses_a_bad_model_before_running(not_gguf, capsys):
    from apps.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "assistant", "--model", str(not_gguf)])
    assert exit_info.value.code == 2
    assert "not a GGUF file" in capsys.readouterr().err


def test_shipped_file_by_path_is_the_shipped_model():
    from apps.assistant.model_file import describe
    from apps.assistant.runtime import SHIPPED_MODEL_ID, shipped_gguf_path

    model = describe(shipped_gguf_path())
    assert model.shipped and model.model_id == SHIPPED_MODEL_ID and model.quant == "Q4_1"
    assert describe(None) == model


@pytest.mark.slow
def test_a_user_gguf_is_gated_carded_and_served_under_its_own_name(ctx, small_data, tmp_path):
    """The shipped file copied under another name is a user's GGUF: template read from the file,
    reference and candidates built from it, same gate, card and /v1/models name it."""
    from fastapi.testclient import TestClient

    from apps.api.server import create_app
    from apps.assistant.pipeline import RunConfig, run
    from apps.assistant.runtime import shipped_gguf_path
    from apps.assistant.served import card_path, load_served_runtime
    from apps.assistant.service import AssistantService, register_service
    from apps.assistant.serving import ServeConfig
    from apps.settings import Settings
    from core.gates import ModelCard

    user = tmp_path / "My-Chat-Model.Q4_1.gguf"
    shutil.copyfile(shipped_gguf_path(), user)
    ctx = replace(ctx, data_dir=small_data, assistant_model=user)
    summary = run(ctx, RunConfig(candidates=("Q4_1",), gate=TINY_GATE, search=SearchOptions(
        max_tokens=(8,), naive_max_tokens=8, variants=2, min_budget=12, finalists=1)))
    assert summary.card_path == str(card_path(ctx))
    assert card_path(ctx).name == "my-chat-model-q4_1.card.json"
    card = ModelCard.load(summary.card_path)
    assert card.name == "my-chat-model-q4_1"
    assert str(user) in card.protocol["source"] and card.protocol["model"]["quant"] == "Q4_1"
    assert "My-Chat-Model.Q4_1.gguf (Q4_1) dequantised" in card.protocol["reference_note"]
    # The reference was built from the user's file, in its own cache folder.
    assert (ctx.cache_dir / "assistant" / "gguf" / "my-chat-model-q4_1"
            / "My-Chat-Model.F32.gguf").is_file()

    runtime, reason = load_served_runtime(ctx, ServeConfig(n_ctx=768))
    assert runtime.model_path in {user.resolve(), (ctx.cache_dir / "assistant" / "gguf" /
                                  "my-chat-model-q4_1" / "My-Chat-Model.F32.gguf")}
    service = AssistantService(ctx, ServeConfig(semantic_cache=False), runtime=runtime)
    register_service(ctx, service)
    app = create_app(Settings(zone="US-CISO", cache_dir=ctx.cache_dir, open_reads=True,
                              open_compute=True), ctx=ctx)
    with TestClient(app) as client:
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == [
            "my-chat-model-q4_1"]
        answer = client.post("/v1/chat/completions", json={
            "model": "my-chat-model-q4_1", "max_tokens": 4,
            "messages": [{"role": "user", "content": "Say hi."}]})
    assert answer.status_code == 200 and answer.json()["model"] == "my-chat-model-q4_1"
    assert reason
