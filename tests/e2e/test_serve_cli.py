"""`greenstack keys create` + `greenstack serve --workers 2` as a user runs them, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.e2e_stack import (
    create_key,
    free_port,
    greenstack_cli,
    stack_env,
    start_cli_serve,
    stop,
    wait_http,
)

pytestmark = pytest.mark.e2e


def test_keys_and_two_workers_share_the_ledger(tmp_path: Path) -> None:
    env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    env["GREENSTACK_OPEN_READS"] = "false"
    token = create_key(env, "read", "e2e")
    listed = greenstack_cli("keys", "list", env=env)
    assert "e2e" in listed.stdout and token not in listed.stdout

    port = free_port()
    log_path = tmp_path / "serve.log"
    proc = start_cli_serve(env, port, log_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc, log_path)
        with httpx.Client(base_url=base, timeout=30) as client:
            # Enough requests that both workers answer; each must know the key from the DB.
            statuses = {client.get("/v1/impact", headers={"X-API-Key": token}).status_code
                        for _ in range(20)}
            assert statuses == {200}
            assert client.get("/v1/impact").status_code == 401
            assert client.get("/v1/impact", headers={"X-API-Key": token + "x"}).status_code == 401
    finally:
        stop(proc)
    log = log_path.read_text(errors="replace")
    assert log.count("Started server process") == 2, log[-3000:]  # two workers really ran
