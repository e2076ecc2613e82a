"""OpenAI-compatible API: the official openai client against a real uvicorn server, and
TestClient for every error case (the server keeps serving after each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.e2e.e2e_stack import serve_in_thread

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def api(tmp_path_factory, runtime, embedder, threshold, service_builder):
    """create_app() with the assistant service preloaded on the shared model."""
    from apps.api.server import create_app
    from apps.assistant.service import register_service
    from apps.context import AppContext
    from apps.settings import Settings
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    tmp = tmp_path_factory.mktemp("assistant-api")
    ctx = AppContext(data_dir=Path(__file__).resolve().parents[3] / "data",
                     cache_dir=tmp / "cache", models_dir=tmp / "models",
                     ledger=Ledger(f"sqlite:///{tmp / 'ledger.db'}"), meter=Meter(),
                     carbon=resolve_source(zone="US-CISO"))
    service = service_builder(ctx, runtime, embedder, threshold)
    register_service(ctx, service)
    app = create_app(Settings(zone="US-CISO", cache_dir=tmp / "cache", open_reads=True,
                              open_compute=True), ctx=ctx)
    return app, ctx, service


@pytest.fixture(scope="module")
def server_url(api):
    with serve_in_thread(api[0]) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def client(server_url, api):
    from openai import OpenAI

    # The openai client always sends a bearer token; give it a real key with the compute scope.
    token = api[0].state.key_store.create(["compute"], "openai-client-test").token
    return OpenAI(base_url=server_url, api_key=token, max_retries=0)


@pytest.mark.e2e
def test_openai_client_lists_models(client):
    assert [m.id for m in client.models.list().data] == [MODEL]


@pytest.mark.e2e
def test_openai_client_non_streaming_carries_energy_usage_and_impact(client, api):
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is 2 + 2?"}], max_tokens=8)
    assert resp.choices[0].message.content and resp.choices[0].finish_reason in {"stop", "length"}
    usage = resp.usage.model_dump()
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    assert usage["energy_j"] > 0 and usage["co2e_g"] > 0 and usage["cache"] == "miss"
    assert usage["method"] in {"counter", "power_sampled", "modelled"}
    impact = resp.model_extra["impact"]
    assert impact["energy"]["unit"] == "Wms" and impact["emissions"]["unit"] == "ugCO2e"
    assert impact["inferenceTime"]["unit"] == "ms" and impact["energy"]["total"] > 0
    from core.ledger.serving import serving_book

    serving_book(api[1].ledger).flush(everything=True)  # serving rows are written per minute
    rows = api[1].ledger.footprints(app="assistant", phase="serve")
    assert rows and rows[-1].energy_j == pytest.approx(usage["energy_j"])


@pytest.mark.e2e
def test_openai_client_streaming_ends_with_usage_chunk(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=6,
        stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1]
    assert final.choices == [] and final.usage.completion_tokens == 6
    assert final.usage.model_dump()["energy_j"] > 0 and final.model_extra["impact"]
    assert text and chunks[-2].choices[0].finish_reason == "length"


@pytest.mark.e2e
def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=3,
        stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


@pytest.mark.e2e
def test_openai_client_sees_errors_as_typed_exceptions(client):
    import openai

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=4)


@pytest.fixture(scope="module")
def tc(api):
    with TestClient(api[0]) as c:
        yield c


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": MODEL, "messages": []}, 400, "messages"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "  "}]}, 400, "messages"),
    ({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400,
     "max_tokens"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000}, 400,
     "max_tokens"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi " * 1500}]}, 400, "messages"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "n"),
    ({"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}, 400, None),
])
def test_bad_requests_get_openai_error_objects(tc, body, status, param):
    resp = tc.post("/v1/chat/completions", json=body)
    assert resp.status_code == status
    err = resp.json()["error"]
    assert err["message"] and err["type"]
    if param:
        assert param in (err["param"] or "")


def test_invalid_json_and_server_keeps_serving(tc):
    resp = tc.post("/v1/chat/completions", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"
    assert tc.post("/v1/chat/completions", content=b"[1, 2]").status_code == 400
    ok = tc.post("/v1/chat/completions", json={
        "model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] <= 2


def test_queue_full_answers_429_with_retry_after(tc, api):
    service = api[2]
    original = service.queue
    from apps.assistant.queue import AdmissionQueue

    service.queue = AdmissionQueue(capacity=1)
    try:
        with service.queue.admit():  # the model slot is busy and the queue is full
            resp = tc.post("/v1/chat/completions", json={
                "model": MODEL, "messages": [{"role": "user", "content": "A new question?"}]})
    finally:
        service.queue = original
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
    assert resp.json()["error"]["type"] == "rate_limit_exceeded"


def test_cache_hit_through_the_api_reports_avoided_energy(tc):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "What is 3 times 3?"}],
            "max_tokens": 6}
    first = tc.post("/v1/chat/completions", json=body).json()
    second = tc.post("/v1/chat/completions", json=body).json()
    assert first["usage"]["cache"] == "miss" and second["usage"]["cache"] == "hit"
    assert second["usage"]["energy_avoided_j"] > 0
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]


def test_stream_sse_format_via_testclient(tc):
    with tc.stream("POST", "/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
            "stream": True, "stream_options": {"include_usage": True}}) as resp:
        lines = [ln for ln in resp.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    final = json.loads(lines[-2].removeprefix("data: "))
    assert final["choices"] == [] and "impact" in final and final["usage"]["energy_j"] >= 0


def test_model_not_gated_yet_is_503_that_says_what_to_do(ctx):
    from apps.api.server import create_app
    from apps.settings import Settings

    app = create_app(Settings(zone="US-CISO", cache_dir=ctx.cache_dir, open_reads=True,
                              open_compute=True), ctx=ctx)
    with TestClient(app) as c:
        resp = c.post("/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 503 and "greenstack run assistant" in resp.json()["detail"]
