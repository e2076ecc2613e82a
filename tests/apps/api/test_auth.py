"""API keys: hashed storage, scopes, revocation, and 401 vs 403 through a real FastAPI app.

Tests taking ``engine`` or ``store`` run on SQLite and on a throwaway PostgreSQL cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from apps.api.auth import (
    SCOPES,
    ApiKeyStore,
    AuthError,
    ScopeError,
    api_keys_table,
    validate_scopes,
)
from apps.api.deps import Principal, require_scope
from core.errors import ConfigError
from tests.pg_cluster import BACKENDS, url_for


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    from core.ledger import Ledger

    return Ledger(url_for(request, request.param)).engine  # keys live in the ledger's database


@pytest.fixture()
def store(engine: sa.Engine) -> ApiKeyStore:
    return ApiKeyStore(engine)


def test_token_is_never_stored(store: ApiKeyStore, engine: sa.Engine) -> None:
    created = store.create(["read"], name="ops")
    secret = created.token.split("_", 2)[2]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys_table)).all()
    assert len(rows) == 1
    dumped = " ".join(str(v) for v in rows[0])
    assert secret not in dumped and created.token not in dumped
    assert rows[0].hash_hex and len(rows[0].salt_hex) == 32


def test_verify_roundtrip_and_wrong_secret(store: ApiKeyStore) -> None:
    created = store.create(["control"])
    key = store.verify(created.token)
    assert key.key_id == created.key.key_id and key.scopes == {"control"}
    tampered = created.token[:-2] + ("AA" if not created.token.endswith("AA") else "BB")
    with pytest.raises(AuthError, match="not recognised"):
        store.verify(tampered)
    for bad in ("", "nonsense", "gsk__x", f"gsk_{created.key.key_id}_", "gsk_deadbeef0000_abc"):
        with pytest.raises(AuthError):
            store.verify(bad)


def test_same_scopes_get_distinct_salts(store: ApiKeyStore, engine: sa.Engine) -> None:
    store.create(["read"])
    store.create(["read"])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys_table)).all()
    assert rows[0].salt_hex != rows[1].salt_hex and rows[0].hash_hex != rows[1].hash_hex


@pytest.mark.parametrize(
    ("granted", "needed", "allowed"),
    [
        ("read", "read", True),
        ("read", "control", False),
        ("control", "read", True),
        ("control", "jobs", False),
        ("jobs", "read", True),
        ("jobs", "admin", False),
        ("admin", "control", True),
        ("admin", "jobs", True),
        ("read", "compute", False),
        ("control", "compute", False),
        ("jobs", "compute", False),
        ("compute", "read", True),
        ("compute", "control", False),
        ("admin", "compute", True),
    ],
)
def test_scope_implications(store: ApiKeyStore, granted: str, needed: str, allowed: bool) -> None:
    token = store.create([granted]).token
    if allowed:
        assert store.authorize(token, needed).allows(needed)
    else:
        with pytest.raises(ScopeError, match=f"needs '{needed}'"):
            store.authorize(token, needed)


def test_overlong_name_is_refused_on_every_database(store: ApiKeyStore) -> None:
    with pytest.raises(ConfigError, match="at most 200"):
        store.create(["read"], name="n" * 201)
    assert store.list() == []
    assert store.create(["read"], name="n" * 200).key.name == "n" * 200


def test_revoke(store: ApiKeyStore) -> None:
    created = store.create(["admin"])
    assert store.revoke(created.key.key_id)
    assert not store.revoke(created.key.key_id)  # already revoked
    with pytest.raises(AuthError, match="revoked"):
        store.verify(created.token)
    assert store.list()[0].revoked_unix_s is not None


def test_bad_scopes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown scope"):
        validate_scopes(["read", "root"])
    with pytest.raises(ConfigError, match="no scopes"):
        validate_scopes([" "])
    with pytest.raises(ConfigError):
        require_scope("superuser")
    assert validate_scopes([" READ ", "jobs"]) == {"read", "jobs"}
    assert set(SCOPES) == {"read", "compute", "control", "jobs", "admin"}


def test_table_shared_by_two_stores(engine: sa.Engine) -> None:
    # A second worker process opening the same database must see keys the first created.
    token = ApiKeyStore(engine).create(["jobs"]).token
    assert ApiKeyStore(engine).verify(token).scopes == {"jobs"}


def _app(store: ApiKeyStore, open_reads: bool, open_compute: bool = False) -> FastAPI:
    app = FastAPI()
    app.state.key_store = store
    app.state.settings = type("S", (), {"open_reads": open_reads, "open_compute": open_compute})()

    @app.get("/data")
    def data(who: Annotated[Principal, Depends(require_scope("read"))]) -> dict:
        return {"anonymous": who.anonymous, "key": who.key_id}

    @app.post("/setpoint", dependencies=[Depends(require_scope("control"))])
    def setpoint() -> dict:
        return {"ok": True}

    @app.post("/predict")
    def predict(who: Annotated[Principal, Depends(require_scope("compute"))]) -> dict:
        return {"anonymous": who.anonymous}

    return app


def test_http_401_vs_403(store: ApiKeyStore) -> None:
    client = TestClient(_app(store, open_reads=False))
    read_token = store.create(["read"]).token
    control_token = store.create(["control"]).token

    r = client.get("/data")
    assert r.status_code == 401 and "scope 'read'" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/data", headers={"X-API-Key": "gsk_nope_nope"}).status_code == 401
    r = client.get("/data", headers={"Authorization": f"Bearer {read_token}"})
    assert r.status_code == 200 and r.json()["anonymous"] is False

    r = client.post("/setpoint", headers={"X-API-Key": read_token})
    assert r.status_code == 403 and "needs 'control'" in r.json()["detail"]
    assert client.post("/setpoint", headers={"X-API-Key": control_token}).json() == {"ok": True}


def test_open_reads_never_open_writes(store: ApiKeyStore) -> None:
    client = TestClient(_app(store, open_reads=True))
    assert client.get("/data").json() == {"anonymous": True, "key": None}
    r = client.post("/setpoint")
    assert r.status_code == 401 and "greenstack keys create" in r.json()["detail"]
    # A wrong key on an open read is still rejected: a typo must not pass silently as anonymous.
    assert client.get("/data", headers={"X-API-Key": "gsk_bad_bad"}).status_code == 401


def test_keys_cli_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from apps.cli import main

    url = ["--ledger-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    assert main([*url, "keys", "create", "--scopes", "read", "jobs", "--name", "ci"]) == 0
    out = capsys.readouterr().out
    token = next(w for w in out.split() if w.startswith("gsk_"))
    key_id = token.split("_")[1]
    assert main([*url, "keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "active" in listed and token not in listed
    assert main([*url, "keys", "revoke", key_id]) == 0
    assert main([*url, "keys", "revoke", key_id]) == 1
    assert "revoked" in capsys.readouterr().out
    assert main([*url, "keys", "create", "--scopes", "root"]) == 2
    assert "unknown scope" in capsys.readouterr().err


def test_compute_needs_a_key_even_with_open_reads(store: ApiKeyStore) -> None:
    client = TestClient(_app(store, open_reads=True))
    assert client.get("/data").status_code == 200  # cheap reads stay open
    r = client.post("/predict")
    assert r.status_code == 401 and "scope 'compute'" in r.json()["detail"]
    assert "--scopes compute" in r.json()["detail"]
    read_token = store.create(["read"]).token
    r = client.post("/predict", headers={"X-API-Key": read_token})
    assert r.status_code == 403 and "needs 'compute'" in r.json()["detail"]
    compute_token = store.create(["compute"]).token
    assert client.post("/predict", headers={"X-API-Key": compute_token}).json() == {
        "anonymous": False}
    assert client.get("/data", headers={"X-API-Key": compute_token}).status_code == 200


def test_open_compute_is_an_explicit_opt_in(store: ApiKeyStore) -> None:
    client = TestClient(_app(store, open_reads=False, open_compute=True))
    assert client.post("/predict").json() == {"anonymous": True}
    assert client.get("/data").status_code == 401  # opening compute opens nothing else
    assert client.post("/setpoint").status_code == 401
