"""`greenstack keys create` + `greenstack serve --workers 2` as a user runs them, over real HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.e2e_stack import free_port, stack_env, stop, wait_http

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _greenstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apps.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_keys_and_two_workers_share_the_ledger(tmp_path: Path) -> None:
    env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    env["GREENSTACK_OPEN_READS"] = "false"
    created = _greenstack("keys", "create", "--scopes", "read", "--name", "e2e", env=env)
    assert created.returncode == 0, created.stderr
    token = re.search(r"token:\s+(gsk_\S+)", created.stdout).group(1)
    listed = _greenstack("keys", "list", env=env)
    assert "e2e" in listed.stdout and token not in listed.stdout

    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
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
