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


@pytest.fixture()
def ctx(tmp_path: Path):
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
        ledger=Ledger(f"sqlite:///{tmp_path / 'ledger.db'}"),
        meter=Meter(),
        carbon=resolve_source(zone="US-CISO"),
    )
