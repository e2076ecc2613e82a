"""REST endpoints through the real server factory: good inputs and every kind of bad input."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(trained, small_ctx, tmp_path_factory):
    from apps.api.server import create_app
    from apps.settings import Settings

    cache = tmp_path_factory.mktemp("server-cache")
    settings = Settings(zone="US-CISO", cache_dir=cache, open_reads=True, open_compute=True,
                        max_body_bytes=2 * 1024 * 1024)
    with TestClient(create_app(settings, ctx=small_ctx)) as c:
        yield c


def _engine(fd001, unit: int, n: int | None = None) -> dict:
    rows = fd001.test[fd001.test["unit"] == unit].iloc[:, 2:]
    values = rows.to_numpy().tolist()
    return {"unit": unit, "rows": values if n is None else values[:n]}


def test_predict_one_and_many(client, fd001) -> None:
    r = client.post("/v1/maintenance/predict",
                    json={"engines": [_engine(fd001, 1), _engine(fd001, 4)]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["unit"] for p in body["predictions"]] == [1, 4]
    assert body["model"] in ("mlp-compact", "gbm-reference") and body["model_reason"]
    p = body["predictions"][0]
    assert p["rul_low_cycles"] <= p["rul_cycles"] <= p["rul_high_cycles"]
    assert isinstance(p["alarm"], bool) and body["energy_j"] >= 0


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda e: e["rows"][2].append(1.0), "expected 24"),
    (lambda e: e.__setitem__("rows", e["rows"][:3]), "at least 5"),
    (lambda e: [r.__setitem__(0, 20.0) for r in e["rows"]], "unknown operating condition"),
])
def test_bad_engine_inputs_are_422_with_a_message(client, fd001, mutate, needle) -> None:
    engine = _engine(fd001, 2)
    mutate(engine)
    # NaN is not valid JSON: send it the way a Python client would (allow_nan)
    import json

    r = client.post("/v1/maintenance/predict", content=json.dumps({"engines": [engine]}),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert needle in r.text


def test_nan_sensor_is_422_naming_nan(client, fd001) -> None:
    # NaN is not valid JSON: sent the way a Python client would (allow_nan), the body guard
    # refuses it before validation with a message that says what to send instead.
    import json

    engine = _engine(fd001, 2)
    engine["rows"][3][5] = math.nan
    r = client.post("/v1/maintenance/predict", content=json.dumps({"engines": [engine]}),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "NaN" in r.text


def test_too_many_engines_and_huge_body(client, fd001) -> None:
    engine = _engine(fd001, 1, n=5)
    many = [{**engine, "unit": i} for i in range(300)]
    r = client.post("/v1/maintenance/predict", json={"engines": many})
    assert r.status_code == 422 and "256" in r.text
    huge = "x" * (3 * 1024 * 1024)
    r = client.post("/v1/maintenance/predict", content=huge,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    # the service keeps serving afterwards
    ok = client.post("/v1/maintenance/predict", json={"engines": [_engine(fd001, 3)]})
    assert ok.status_code == 200


def test_batch_csv_upload(client, fd001) -> None:
    rows = fd001.test[fd001.test["unit"].isin([5, 6])]
    text = "\n".join(" ".join(f"{v:g}" for v in r) for r in rows.to_numpy()) + "\n"
    r = client.post("/v1/maintenance/batch", files={"file": ("test.txt", text.encode())})
    assert r.status_code == 200, r.text
    assert [p["unit"] for p in r.json()["predictions"]] == [5, 6]
    bad = "1 1 0.1 0.2\n"
    r = client.post("/v1/maintenance/batch", files={"file": ("bad.txt", bad.encode())})
    assert r.status_code == 422 and "expected 26" in r.text
    r = client.post("/v1/maintenance/batch", files={"file": ("bin", b"\xff\xfe\x00")})
    assert r.status_code == 422


def test_model_card_endpoint(client) -> None:
    r = client.get("/v1/maintenance/model")
    assert r.status_code == 200
    body = r.json()
    assert body["app"] == "maintenance" and body["gates"][-1]["verdict"] in ("PASS", "FAIL")
    missing = client.get("/v1/maintenance/model", params={"subset": "FD004"})
    assert missing.status_code == 503 and "greenstack run maintenance" in missing.text
    assert client.get("/v1/maintenance/model", params={"subset": "FD9"}).status_code == 422


def test_every_maintenance_and_system_endpoint_declares_its_response_model(client) -> None:
    from apps.api.server import iter_api_routes

    routes = [(path, route) for path, _methods, route in iter_api_routes(client.app)
              if path.startswith("/v1/maintenance") or path in ("/health", "/v1/impact")]
    assert len(routes) >= 5
    missing = [path for path, route in routes if route.response_model is None]
    assert not missing, f"endpoints without response_model: {missing}"
    # the OpenAPI schema names a response model for each, not a bare object
    spec = client.get("/openapi.json").json()
    for path, route in routes:
        for method in route.methods - {"HEAD", "OPTIONS"}:
            ok = spec["paths"][path][method.lower()]["responses"]["200"]["content"]
            assert "$ref" in ok["application/json"]["schema"], (method, path)


def test_many_predictions_add_one_ledger_row_per_minute_not_per_request(
        client, fd001, small_ctx) -> None:
    # Issue 12 defect 5: 300 predictions used to add 300 ledger rows.
    from core.ledger.serving import serving_book

    book = serving_book(small_ctx.ledger)
    book.flush(everything=True)
    before = len(small_ctx.ledger.footprints(app="maintenance"))
    energies = []
    for _ in range(30):
        r = client.post("/v1/maintenance/predict", json={"engines": [_engine(fd001, 2, n=40)]})
        assert r.status_code == 200, r.text
        energies.append(r.json()["energy_j"])  # the per-request figure stays in the response
    # The background flusher may close one minute the loop straddled; the rest is still open.
    assert len(small_ctx.ledger.footprints(app="maintenance")) - before <= 1
    book.flush(everything=True)
    rows = small_ctx.ledger.footprints(app="maintenance")[before:]
    assert 1 <= len(rows) <= 2  # two only if the requests straddled a minute boundary
    assert sum(r.count for r in rows) == 30 and "request(s)" in rows[0].notes
    assert sum(r.energy_j for r in rows) == pytest.approx(sum(energies))
