"""The API server built by create_app(): system routes, limits, metrics, auth on every write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from apps.api.server import create_app, iter_api_routes
from apps.registry import APP_NAMES, available_apps
from apps.settings import Settings


def _settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(zone="US-CISO", cache_dir=tmp_path / "cache", **overrides)


@pytest.fixture()
def app(ctx, tmp_path: Path) -> FastAPI:
    return create_app(_settings(tmp_path, open_reads=True), ctx=ctx)


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _seed(ctx, app_name: str = "maintenance", saved_kg: float = 2.0) -> None:
    intensity = ctx.carbon.intensity()
    for phase in ("train", "evaluate"):
        with ctx.meter.window(f"{app_name}-{phase}", unit="sample") as w:
            w.count += sum(1 for _ in range(10_000))
        ctx.ledger.record_footprint(app=app_name, run_id=f"t-{app_name}", phase=phase,
                                    measurement=w.measurement, intensity=intensity)
    ctx.ledger.record_saving(
        app=app_name, run_id=f"t-{app_name}", kind="test_saving", co2e_kg=saved_kg,
        co2e_kg_low=saved_kg / 2, co2e_kg_high=saved_kg * 2, energy_kwh=None,
        baseline="test baseline", method="test fixture", assumptions={},
    )


def test_health_reports_ledger_and_every_app(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["ledger"] == {"reachable": True, "backend": "sqlite", "error": None}
    assert [a["name"] for a in body["apps"]] == list(APP_NAMES)
    mounted = {a["name"] for a in body["apps"] if a["router_mounted"]}
    assert mounted == set(available_apps("router"))


def test_health_degrades_when_ledger_unreachable(ctx, tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path), ctx=ctx)
    ctx.ledger.engine.dispose()
    (tmp_path / "ledger.db").unlink()
    (tmp_path / "ledger.db").mkdir()  # a directory where the database file was: unopenable
    body = TestClient(app).get("/health").json()
    assert body["status"] == "degraded" and body["ledger"]["reachable"] is False


def test_impact_empty_ledger_explains_how_to_fill_it(client: TestClient) -> None:
    body = client.get("/v1/impact").json()
    assert body["empty"] is True and body["apps"] == {} and body["total"] is None
    assert "greenstack run all" in body["hint"]
    r = client.get("/v1/impact", params={"app": "maintenance"})
    assert r.status_code == 404 and "make demo" in r.json()["detail"]


def test_impact_per_app_and_total(ctx, client: TestClient) -> None:
    from core.impact import ImpactReport

    _seed(ctx, "maintenance", saved_kg=2.0)
    _seed(ctx, "cooling", saved_kg=1.0)
    body = client.get("/v1/impact").json()
    assert body["empty"] is False and set(body["apps"]) == {"maintenance", "cooling"}
    expected = ImpactReport.from_ledger(ctx.ledger, app="cooling").to_dict()
    assert body["apps"]["cooling"] == json.loads(json.dumps(expected))
    assert body["total"] == json.loads(json.dumps(ImpactReport.from_ledger(ctx.ledger).to_dict()))
    assert body["total"]["savings"]["co2e_kg"] == pytest.approx(3.0)
    one = client.get("/v1/impact", params={"app": "cooling"}).json()
    assert set(one["apps"]) == {"cooling"} and one["total"] is None


def test_metrics_count_requests_and_ledger_energy(ctx, client: TestClient) -> None:
    _seed(ctx, "maintenance")
    client.get("/health")
    client.get("/health")
    text = client.get("/metrics").text
    assert 'greenstack_http_requests_total{app="server",method="GET",route="/health",status="200"} 2.0' in text
    assert "greenstack_http_request_duration_seconds_bucket" in text
    assert 'greenstack_ledger_co2e_kg_total{app="maintenance"}' in text
    assert "greenstack_ledger_up 1.0" in text
    # savings can go down when an estimate is superseded: a gauge, never a counter
    assert "# TYPE greenstack_ledger_saved_co2e_kg gauge" in text


def test_many_apps_in_one_process(ctx, tmp_path: Path) -> None:
    # A global Prometheus registry would raise "Duplicated timeseries" on the second app.
    first = TestClient(create_app(_settings(tmp_path), ctx=ctx))
    second = TestClient(create_app(_settings(tmp_path), ctx=ctx))
    first.get("/health")
    assert 'route="/health"' not in second.get("/metrics").text.split("ledger")[0]


def _with_test_routes(app: FastAPI) -> FastAPI:
    @app.post("/echo")
    async def echo(payload: dict) -> dict:
        return {"keys": len(payload)}

    @app.get("/slow")
    async def slow() -> dict:
        await asyncio.sleep(30)  # cancelled by the timeout middleware long before this ends
        return {}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks():
            yield b"first,"
            await asyncio.sleep(0.2)  # longer than the timeout, but after the response started
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


def test_body_limit_413_by_length_and_by_stream(ctx, tmp_path: Path) -> None:
    app = _with_test_routes(create_app(_settings(tmp_path, max_body_bytes=64), ctx=ctx))
    client = TestClient(app)
    assert client.post("/echo", json={"a": 1}).json() == {"keys": 1}
    big = {"k": "x" * 200}
    r = client.post("/echo", json=big)
    assert r.status_code == 413 and "64 bytes" in r.json()["detail"]

    def chunked():  # no Content-Length: the limit must count bytes as they arrive
        yield b'{"k": "'
        yield b"x" * 200
        yield b'"}'

    r = client.post("/echo", content=chunked(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "GREENSTACK_MAX_BODY_BYTES" in r.json()["detail"]


def test_timeout_504_before_response_but_streams_finish(ctx, tmp_path: Path) -> None:
    app = _with_test_routes(create_app(_settings(tmp_path), ctx=ctx, request_timeout_s=0.05))
    client = TestClient(app)
    r = client.get("/slow")
    assert r.status_code == 504 and "0.05 s" in r.json()["detail"]
    r = client.get("/stream")
    assert r.status_code == 200 and r.text == "first,second"


def test_cors_off_by_default_and_opt_in(ctx, tmp_path: Path) -> None:
    headers = {"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}
    closed = TestClient(create_app(_settings(tmp_path), ctx=ctx))
    assert "access-control-allow-origin" not in closed.options("/health", headers=headers).headers
    opened = TestClient(create_app(_settings(tmp_path), ctx=ctx,
                                   cors_origins=["https://example.org"]))
    r = opened.options("/health", headers=headers)
    assert r.headers["access-control-allow-origin"] == "https://example.org"


def test_reads_close_when_configured(ctx, tmp_path: Path) -> None:
    from apps.api.auth import ApiKeyStore

    client = TestClient(create_app(_settings(tmp_path, open_reads=False), ctx=ctx))
    assert client.get("/v1/impact").status_code == 401
    token = ApiKeyStore(ctx.ledger.engine).create(["read"]).token
    assert client.get("/v1/impact", headers={"X-API-Key": token}).status_code == 200
    assert client.get("/health").status_code == 200  # probes stay open


def _required_scopes(route: APIRoute) -> set[str]:
    found: set[str] = set()
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            found.add(name.removeprefix("require_"))
        stack.extend(dep.dependencies)
    return found


def test_every_write_needs_a_key_even_with_open_reads(client: TestClient, app: FastAPI) -> None:
    routes = list(iter_api_routes(app))
    assert {"/health", "/metrics", "/v1/impact"} <= {path for path, _, _ in routes}
    writes = [(p, m, r) for p, m, r in routes if p.startswith("/v1/") and m - {"GET", "HEAD"}]
    if available_apps("router"):
        assert writes, "apps are mounted but no write route was found: the check would be vacuous"
    for path, methods, route in writes:
        scopes = _required_scopes(route)
        assert scopes, f"{methods} {path} has no require_scope dependency"
        if scopes - {"read"}:
            method = sorted(methods - {"GET", "HEAD"})[0]
            r = client.request(method, path.replace("{", "").replace("}", ""), json={})
            assert r.status_code == 401, f"{method} {path} answered {r.status_code} without key"


def test_openapi_documents_security_and_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    impact = spec["paths"]["/v1/impact"]["get"]
    assert {"401", "403", "413", "504"} <= set(impact["responses"])


def test_metrics_label_each_request_with_its_app(client: TestClient) -> None:
    from apps.api.metrics import app_from_route

    assert app_from_route("/v1/chat/completions", ["assistant"]) == "assistant"
    assert app_from_route("/v1/cooling/signals", []) == "cooling"
    assert app_from_route("/v1/impact", ["impact"]) == "server"
    if "maintenance" not in available_apps("router"):
        pytest.skip("maintenance router not installed yet")
    client.get("/v1/maintenance/model")
    text = client.get("/metrics").text
    assert 'app="maintenance",method="GET",route="/v1/maintenance/model"' in text


def test_broken_app_router_degrades_health_but_serves_the_rest(ctx, tmp_path: Path,
                                                              monkeypatch) -> None:
    import apps.api.server as server

    real = server.available_apps("router")
    # "cooling" is listed but its import fails, as a half-written app would.
    monkeypatch.setattr(server, "available_apps", lambda module: [*real, "cooling"])
    monkeypatch.setitem(__import__("sys").modules, "apps.cooling.router", None)
    client = TestClient(create_app(_settings(tmp_path), ctx=ctx))
    body = client.get("/health").json()
    cooling = next(a for a in body["apps"] if a["name"] == "cooling")
    assert body["status"] == "degraded"
    assert cooling["installed"] and not cooling["router_mounted"] and "Error" in cooling["error"]
    assert client.get("/v1/impact").status_code == 200


def test_health_reports_served_model_and_gate_from_cards(ctx, client: TestClient) -> None:
    from core.gates import ModelCard
    from core.gates.card import ModelRef

    mounted = available_apps("router")
    if not mounted:
        pytest.skip("no app router installed yet")
    app_name = mounted[0]
    gate = {"candidate": "small", "eval_version": "v1", "passed": True, "verdict": "PASS",
            "reasons": []}
    card_dir = ctx.app_models_dir(app_name)
    ModelCard(app=app_name, name="passed", reference=ModelRef(name="big"),
              candidate=ModelRef(name="small"), gates=(gate,), eval_version="v1",
              ).save(card_dir / "passed.card.json")
    failed = {**gate, "passed": False, "verdict": "FAIL", "reasons": ["speedup 1.2 < 3"]}
    ModelCard(app=app_name, name="failed", reference=ModelRef(name="big"),
              candidate=ModelRef(name="small"), gates=(failed,), eval_version="v1",
              ).save(card_dir / "failed.card.json")
    (card_dir / "broken.card.json").write_text("{not json")
    app = next(a for a in client.get("/health").json()["apps"] if a["name"] == app_name)
    models = {m["card"]: m for m in app["models"]}
    assert models["passed.card.json"]["served"] == "candidate"
    assert models["passed.card.json"]["gate_verdict"] == "PASS"
    assert models["failed.card.json"]["served"] == "reference"
    assert "speedup 1.2 < 3" in models["failed.card.json"]["reason"]
    assert models["broken.card.json"]["served"] == "reference"


def test_serve_timeout_flag_reaches_worker_factory(monkeypatch, tmp_path: Path) -> None:
    from apps.api.middleware import TimeoutMiddleware
    from apps.cli.surfaces import create_app_from_env

    monkeypatch.setenv("GREENSTACK_ZONE", "US-CISO")
    monkeypatch.setenv("GREENSTACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GREENSTACK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GREENSTACK_REQUEST_TIMEOUT_S", "7.5")
    app = create_app_from_env()
    timeouts = [m.kwargs["timeout_s"] for m in app.user_middleware if m.cls is TimeoutMiddleware]
    assert timeouts == [7.5]
    assert TestClient(app).get("/health").json()["ledger"]["reachable"] is True


# -- hostile input (issue 12, defects 4 and 7): a 4xx that says what to fix, never a 500 --------

_UNSAFE_JSON = {
    "nested 10,000 levels": ("[" * 10_000 + "]" * 10_000, "nested 10000 levels"),
    "5,000-digit integer": ('{"max_tokens": ' + "9" * 5000 + "}", "64 bits"),
    "NaN": ('{"values": [NaN]}', "NaN is not a JSON number"),
    "Infinity": ('{"values": [-Infinity]}', "Infinity is not a JSON number"),
    "overflowing float": ('{"values": [1e400]}', "overflows a 64-bit float"),
    "integer past 64 bits": ('{"seed": 9223372036854775808}', "64 bits"),
    "lone surrogate": ('{"content": "hi \\ud800"}', "lone UTF-16 surrogate"),
    "not UTF-8": (b'{"content": "caf\xe9"}', "not valid UTF-8 (byte 0xe9 at offset 16)"),
}


@pytest.mark.parametrize("case", sorted(_UNSAFE_JSON))
@pytest.mark.parametrize("path", ["/echo", "/v1/chat/completions"])
def test_unsafe_json_bodies_get_422_saying_what_to_fix(ctx, tmp_path: Path, case: str,
                                                       path: str) -> None:
    app = _with_test_routes(create_app(_settings(tmp_path, open_compute=True), ctx=ctx))
    body, fix = _UNSAFE_JSON[case]
    r = TestClient(app, raise_server_exceptions=False).post(
        path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, (case, r.status_code, r.text[:200])
    payload = r.json()  # both error shapes: FastAPI's detail and OpenAI's error object
    assert fix in payload["detail"] and payload["error"]["message"] == payload["detail"]


def test_json_guard_passes_ordinary_bodies_untouched(ctx, tmp_path: Path) -> None:
    from apps.api.middleware import json_nesting_depth

    client = TestClient(_with_test_routes(create_app(_settings(tmp_path), ctx=ctx)))
    # Brackets, "NaN" and long digit runs inside strings are text, not structure or numbers.
    text = {"a": "[" * 500 + " NaN Infinity " + "9" * 5000, "b": [[1, 2.5e300, -(2**63)]]}
    assert client.post("/echo", json=text).json() == {"keys": 2}
    assert client.post("/echo", json={"d": [[[[{"x": [1]}]]]]}).json() == {"keys": 1}
    assert json_nesting_depth(b'["\\\\", "\\"[[[", [[]]]') == 3


def test_validation_errors_serialise_even_when_the_input_cannot(ctx, tmp_path: Path) -> None:
    from fastapi import Depends
    from fastapi.exceptions import RequestValidationError

    def bad_input() -> None:  # what pydantic reports for a non-finite value that got through
        raise RequestValidationError([{
            "type": "value_error", "loc": ("body", "values", 0), "msg": "must be finite",
            "input": [float("nan"), float("inf")], "ctx": {"error": ValueError("not finite")}}])

    app = create_app(_settings(tmp_path), ctx=ctx)
    app.get("/nan-input", dependencies=[Depends(bad_input)])(lambda: {})
    r = TestClient(app, raise_server_exceptions=False).get("/nan-input")
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["input"] == ["nan", "inf"] and err["ctx"] == {"error": "not finite"}
    assert err["msg"] == "must be finite" and err["loc"] == ["body", "values", 0]


@pytest.mark.parametrize(("app_name", "path", "scope", "content_type", "accepted"), [
    ("assistant", "/v1/chat/completions", "compute", "text/plain", "application/json"),
    ("cooling", "/v1/cooling/sites/s/telemetry", "control", "text/plain", "application/json"),
    ("cooling", "/v1/cooling/signals", "control", "multipart/form-data; boundary=x",
     "application/json"),
    ("deforestation", "/v1/deforestation/jobs", "jobs", "application/json", "multipart/form-data"),
])
def test_body_with_a_media_type_the_route_does_not_take_gets_415(
        app: FastAPI, app_name: str, path: str, scope: str, content_type: str,
        accepted: str) -> None:
    if app_name not in available_apps("router"):
        pytest.skip(f"{app_name} router not installed")
    client = TestClient(app, raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {app.state.key_store.create([scope]).token}"}
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    r = client.post(path, content=body, headers={**auth, "content-type": content_type})
    assert r.status_code == 415, (path, r.status_code, r.text[:200])
    assert accepted in r.json()["detail"]
    if accepted == "application/json":  # labelled as JSON, or unlabelled, it is read as JSON
        for headers in (auth | {"content-type": "application/json"}, auth):
            assert client.post(path, content=body, headers=headers).status_code != 415


def test_media_type_is_checked_after_the_key(app: FastAPI) -> None:
    if "cooling" not in available_apps("router"):
        pytest.skip("cooling router not installed")
    r = TestClient(app).post("/v1/cooling/signals", content=b"{}",
                             headers={"content-type": "text/plain"})
    assert r.status_code == 401  # an anonymous caller learns nothing about the route's body


_HOSTILE_COOLING = [
    ("get", "/v1/cooling/signals/active", {"params": {"at": "9999-12-31T23:59:59-23:59"}}),
    ("get", "/v1/cooling/sites/s/reports/savings",
     {"params": {"from": "2026-07-01T00:00:00Z", "to": "9999-12-31T23:59:59-23:59"}}),
    ("post", "/v1/cooling/signals", {"json": {"programID": "p", "intervals": [{
        "id": 0, "intervalPeriod": {"start": "2026-07-01T00:00:00Z",
                                    "duration": "P99999999999999999999D"},
        "payloads": [{"type": "GHG", "values": [300]}]}]}}),
    ("post", "/v1/cooling/signals", {"json": {"programID": "p", "intervals": [{
        "id": 0, "intervalPeriod": {"start": "9999-12-31T23:00:00Z", "duration": "P7D"},
        "payloads": [{"type": "GHG", "values": [300]}]}]}}),
    ("post", "/v1/cooling/signals", {"json": {"programID": "p", "intervals": [{
        "id": 0, "intervalPeriod": {"start": "0001-01-01T00:00:00+05:00", "duration": "PT1H"},
        "payloads": [{"type": "GHG", "values": [300]}]}]}}),
    ("post", "/v1/cooling/sites/s/telemetry", {"json": {
        "zone": "z", "timestamp": "0001-01-01T00:00:00+05:00",
        "points": {"Zone_Air_Temperature_Sensor": 22.0}}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), _HOSTILE_COOLING)
def test_extreme_dates_and_durations_get_422_naming_the_range(
        ctx, app: FastAPI, method: str, path: str, kwargs: dict) -> None:
    if "cooling" not in available_apps("router"):
        pytest.skip("cooling router not installed")
    token = app.state.key_store.create(["control"]).token
    r = TestClient(app, raise_server_exceptions=False).request(
        method.upper(), path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert r.status_code == 422, (path, r.status_code, r.text[:300])
    msg = json.dumps(r.json()["detail"])
    assert "between 1900-01-01 and 2200-01-01 UTC" in msg or "between 1 s and 7 days" in msg


def test_utc_instant_bounds() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from apps.validation import utc_instant

    ok = datetime(2026, 7, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert utc_instant(ok) is ok
    for bad in (datetime(2026, 7, 1), datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
                datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
                datetime(2200, 1, 1, tzinfo=UTC)):
        with pytest.raises(ValueError):
            utc_instant(bad)


@pytest.mark.parametrize("form", [
    {"before": "\x00/etc/passwd", "after": "x.tif"},
    {"before": "data/" + "a" * 300, "after": "x.tif"},
])
def test_job_paths_with_nul_or_overlong_names_get_422(app: FastAPI, form: dict) -> None:
    if "deforestation" not in available_apps("router"):
        pytest.skip("deforestation router not installed")
    token = app.state.key_store.create(["jobs"]).token
    r = TestClient(app, raise_server_exceptions=False).post(
        "/v1/deforestation/jobs", data=form, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "before: the path" in r.json()["detail"], r.text


@pytest.mark.parametrize("name", ["a.b/c", "../../../../tmp/x", "x" * 300 + ".tif"])
def test_job_upload_names_with_folders_get_422_and_leave_nothing(
        ctx, app: FastAPI, name: str) -> None:
    if "deforestation" not in available_apps("router"):
        pytest.skip("deforestation router not installed")
    token = app.state.key_store.create(["jobs"]).token
    files = {"before_file": (name, b"II*\x00junk"), "after_file": ("a.tif", b"II*\x00junk")}
    r = TestClient(app, raise_server_exceptions=False).post(
        "/v1/deforestation/jobs", files=files, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "before_file: file name" in r.json()["detail"], r.text
    jobs = ctx.cache_dir / "deforestation" / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())


def test_chat_with_thousands_of_messages_is_a_400_not_a_503(app: FastAPI,
                                                             client: TestClient) -> None:
    if "assistant" not in available_apps("router"):
        pytest.skip("assistant router not installed")
    messages = [{"role": "user", "content": "hi"}] * 5000
    token = app.state.key_store.create(["compute"]).token
    r = client.post("/v1/chat/completions", headers={"X-API-Key": token},
                    json={"model": "smollm2-135m-instruct", "messages": messages})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["param"] == "messages" and "256" in r.json()["error"]["message"]



# -- compute scope (issue 12, defect 5) -----------------------------------------------------------

_COMPUTE_ROUTES = [("assistant", "/v1/chat/completions"), ("maintenance", "/v1/maintenance/predict"),
                   ("maintenance", "/v1/maintenance/batch")]


@pytest.mark.parametrize(("app_name", "path"), _COMPUTE_ROUTES)
def test_routes_that_run_a_model_need_a_compute_key_even_with_open_reads(
        app: FastAPI, client: TestClient, app_name: str, path: str) -> None:
    if app_name not in available_apps("router"):
        pytest.skip(f"{app_name} router not installed")
    route = next(r for p, _, r in iter_api_routes(app) if p == path)
    assert "compute" in _required_scopes(route)
    r = client.post(path, json={})
    assert r.status_code == 401 and "scope 'compute'" in r.json()["detail"], r.text
    read = app.state.key_store.create(["read"]).token
    assert client.post(path, json={}, headers={"X-API-Key": read}).status_code == 403
    compute = app.state.key_store.create(["compute"]).token
    assert client.post(path, json={}, headers={"X-API-Key": compute}).status_code not in (401, 403)


def test_open_compute_setting_opens_model_routes(ctx, tmp_path: Path) -> None:
    if "maintenance" not in available_apps("router"):
        pytest.skip("maintenance router not installed")
    client = TestClient(create_app(_settings(tmp_path, open_compute=True), ctx=ctx))
    assert client.post("/v1/maintenance/predict", json={}).status_code == 422  # past auth
