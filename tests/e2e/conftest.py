"""Fixtures for end-to-end tests: a uvicorn API server and a Streamlit dashboard as subprocesses.

Both run on loopback ports against a temp ledger seeded with real measured records, and are
stopped when the test module ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.e2e_stack import (
    DEMO_STATE,
    Stack,
    free_port,
    seed_ledger,
    stack_env,
    start_api,
    start_dashboard,
    stop,
    wait_http,
)


@pytest.fixture(scope="session")  # one server for the fuzz and browser tests: startup is slow
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running API server on a seeded temp ledger (tests may add keys, never records)."""
    tmp = tmp_path_factory.mktemp("stack")
    if DEMO_STATE:
        from apps.settings import Settings

        ledger_url = Settings().resolved_ledger_url()  # the caller's GREENSTACK_* (or defaults)
    else:
        ledger_url = f"sqlite:///{tmp / 'ledger.db'}"
        seed_ledger(ledger_url)
    env = stack_env(tmp, ledger_url)
    port = free_port()
    log_path = tmp / "api.log"
    proc = start_api(env, port, log_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, log_path)
        yield Stack(api_url=f"http://127.0.0.1:{port}", ledger_url=ledger_url, env=env)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def dashboard_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running dashboard (``greenstack dashboard``'s command) on the stack's ledger."""
    tmp = tmp_path_factory.mktemp("dashboard")
    port = free_port()
    log_path = tmp / "dashboard.log"
    proc = start_dashboard(stack.env, port, log_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
