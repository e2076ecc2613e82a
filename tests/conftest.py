"""Fixtures shared by every test package: an isolated AppContext on temp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

# Tests that need the full real datasets use this; a user's fresh clone has no ../shared.
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason="needs ../shared/data (full real datasets), which exists on dev machines and CI only",
)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the session (see ``tests/pg_cluster.py``)."""
    from tests import pg_cluster

    reason = pg_cluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = pg_cluster.start()
    try:
        yield server
    finally:
        pg_cluster.stop(server)


@pytest.fixture()
def pg_url(postgres_server):
    """A fresh, empty database on the session's PostgreSQL cluster, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture()
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite under tmp_path; ``parametrize("ledger_url", BACKENDS, indirect=True)`` adds
    PostgreSQL (``pg_cluster.BACKENDS``)."""
    from tests import pg_cluster

    return pg_cluster.url_for(request, getattr(request, "param", "sqlite"))


@pytest.fixture()
def ctx(tmp_path: Path, ledger_url: str):
    """An AppContext with a temp ledger, temp cache/models dirs, and the shipped data dir.

    The zone is stated explicitly (US-CISO, 2022 EIA-930 derived annual mean) because greenstack
    has no default zone.
    """
    from apps.context import AppContext
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    cache = tmp_path / "cache"
    cache.mkdir()
    return AppContext(
        data_dir=PROJECT_ROOT / "data",
        cache_dir=cache,
        models_dir=tmp_path / "models",
        ledger=Ledger(ledger_url),
        meter=Meter(),
        carbon=resolve_source(zone="US-CISO"),
    )


@pytest.fixture(scope="session", autouse=True)
def _close_llama_models():
    """Close every llama.cpp model still alive when the session ends.

    Services cached for a test context keep their ``Llama`` objects; left to interpreter exit,
    ``Llama.__del__`` runs after llama_cpp's C bindings are torn down and prints "Exception
    ignored … 'NoneType' object is not callable" into the test log. ``close()`` is idempotent.
    """
    yield
    import gc
    import sys

    llama_cpp = sys.modules.get("llama_cpp")
    if llama_cpp is None:
        return
    for obj in gc.get_objects():
        if type(obj) is llama_cpp.Llama:  # type(), not isinstance: no lazy proxies touched
            obj.close()
