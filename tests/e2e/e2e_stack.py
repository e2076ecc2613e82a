"""Helpers for end-to-end tests: real uvicorn and Streamlit subprocesses on loopback ports.

Imported as ``tests.e2e.e2e_stack`` (pytest's importlib mode; ``tests/`` is a package).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ZONE = "US-CISO"  # stated, never guessed: greenstack has no default zone
STARTUP_TIMEOUT_S = 90.0  # first import of torch-based routers on 2 busy cores is slow


@dataclass(frozen=True)
class Stack:
    """Endpoints of a running server/dashboard and the ledger they share."""

    api_url: str
    ledger_url: str
    env: dict[str, str]


def free_port() -> int:
    """An ephemeral loopback port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app: Any, startup_timeout_s: float = 60.0) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn server in this process; yields its base URL.

    In-process so a test can hand the server a preloaded context (a model it already loaded).
    """
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)  # poll start-up, not a timed assertion
    if not server.started:
        pytest.fail("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


# Set to 1 to run against the demo's own state instead of a seeded temp ledger: the GREENSTACK_*
# variables of the calling shell (default: .greenstack/ ledger and cache, models/) are passed on.
# That is how the README's screenshots are made after `make demo`.
DEMO_STATE = os.environ.get("GREENSTACK_E2E_DEMO_STATE") == "1"


def stack_env(tmp: Path, ledger_url: str) -> dict[str, str]:
    """Environment for server/dashboard subprocesses: temp cache, models and ledger, stated zone."""
    if DEMO_STATE:
        env = dict(os.environ)
        env.setdefault("GREENSTACK_ZONE", ZONE)
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSTACK_")}
        env.update(
            GREENSTACK_ZONE=ZONE,
            GREENSTACK_CACHE_DIR=str(tmp / "cache"),
            GREENSTACK_MODELS_DIR=str(tmp / "models"),
            GREENSTACK_LEDGER_URL=ledger_url,
        )
    env.update(
        GREENSTACK_OPEN_READS="true",
        OMP_NUM_THREADS="1",  # 2 shared cores: keep torch/BLAS from oversubscribing them
        MKL_NUM_THREADS="1",
    )
    return env


def log_tail(log_path: Path, chars: int = 4000) -> str:
    """The end of a subprocess log, for failure messages."""
    return log_path.read_text(errors="replace")[-chars:] if log_path.exists() else ""


def wait_http(url: str, proc: subprocess.Popen, log_path: Path,
              timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 200; fail with the process log if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process exited with {proc.returncode} before {url} answered:\n"
                        f"{log_tail(log_path)}")
        try:
            if httpx.get(url, timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    pytest.fail(f"{url} did not answer within {timeout_s:.0f} s:\n{log_tail(log_path)}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a subprocess we started, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # Output goes to a file, not a pipe: a full pipe would block a chatty server mid-test.
    with log_path.open("ab") as log:
        return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def start_api(env: dict[str, str], port: int, log_path: Path, workers: int = 1) -> subprocess.Popen:
    """``uvicorn apps.api.server:create_app --factory`` as a subprocess."""
    cmd = [
        sys.executable, "-m", "uvicorn", "apps.api.server:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning",
    ]
    return _spawn(cmd, env, log_path)


def greenstack_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``greenstack ARGS`` as a subprocess (text output captured, 120 s limit)."""
    return subprocess.run([sys.executable, "-m", "apps.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def create_key(env: dict[str, str], scopes: str, name: str) -> str:
    """``greenstack keys create`` as a user runs it; the printed token."""
    created = greenstack_cli("keys", "create", "--scopes", scopes, "--name", name, env=env)
    assert created.returncode == 0, created.stderr
    found = re.search(r"token:\s+(gsk_\S+)", created.stdout)
    assert found, created.stdout
    return found.group(1)


def start_cli_serve(env: dict[str, str], port: int, log_path: Path,
                    workers: int = 2) -> subprocess.Popen:
    """``greenstack serve --port PORT --workers N`` as a subprocess."""
    return _spawn([sys.executable, "-m", "apps.cli", "serve", "--port", str(port),
                   "--workers", str(workers)], env, log_path)


def start_dashboard(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    """The dashboard exactly as ``greenstack dashboard`` runs it."""
    from apps.cli.surfaces import dashboard_command

    return _spawn(dashboard_command("127.0.0.1", port), env, log_path)


def seed_ledger(ledger_url: str) -> None:
    """Real measured footprints (tiny workloads) and labelled test savings for two apps."""
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    ledger = Ledger(ledger_url)
    meter = Meter()
    intensity = resolve_source(zone=ZONE).intensity()
    for app in ("maintenance", "cooling"):
        for phase in ("train", "compress", "evaluate", "serve"):
            with meter.window(f"{app}-{phase}", unit="sample") as w:
                w.count += sum(1 for _ in range(20_000))
            ledger.record_footprint(app=app, run_id=f"e2e-{app}", phase=phase,
                                    measurement=w.measurement, intensity=intensity)
        ledger.record_saving(
            app=app, run_id=f"e2e-{app}", kind="e2e_fixture", co2e_kg=0.5, co2e_kg_low=0.2,
            co2e_kg_high=0.9, energy_kwh=None, baseline="e2e test baseline",
            method="test fixture (not a real saving)",
            assumptions={"note": {"value": 1, "source": "tests/e2e/conftest.py"}},
        )
