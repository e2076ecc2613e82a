"""A small real model trained once per session on shipped FD001 data (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DATA = PROJECT_ROOT / "data"
SMALL = {"seeds": (0,), "max_train_units": 30, "reference_overrides": {"max_iter": 60},
         "compact_epochs": 5, "bench_repeats": 3}


@pytest.fixture(scope="session")
def small_ctx(tmp_path_factory: pytest.TempPathFactory):
    """An AppContext on temp dirs with the shipped data (zone stated: US-CISO)."""
    from apps.context import AppContext
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    tmp = tmp_path_factory.mktemp("maintenance")
    (tmp / "cache").mkdir()
    return AppContext(data_dir=DATA, cache_dir=tmp / "cache", models_dir=tmp / "models",
                      ledger=Ledger(f"sqlite:///{tmp / 'ledger.db'}"), meter=Meter(),
                      carbon=resolve_source(zone="US-CISO"))


@pytest.fixture(scope="session")
def trained(small_ctx):
    """(service, summary) after a small pipeline run on 30 FD001 engines, one seed."""
    import torch

    from apps.maintenance.service import MaintenanceService

    torch.set_num_threads(1)
    service = MaintenanceService(small_ctx)
    summary = service.run_pipeline(ai4i=False, **SMALL)
    return service, summary


@pytest.fixture(scope="session")
def fd001():
    """The shipped FD001 subset."""
    from apps.maintenance.data import load_cmapss

    return load_cmapss(DATA / "cmapss", "FD001")
