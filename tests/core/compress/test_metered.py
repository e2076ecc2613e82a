"""A compression step metered and booked in the ledger as phase ``compress``."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from core.compress import quantize_dynamic_int8, run_compression  # noqa: E402
from core.errors import ConfigError  # noqa: E402


def test_compression_lands_in_ledger_as_compress(ctx):
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    res = run_compression(lambda: quantize_dynamic_int8(model), meter=ctx.meter,
                          ledger=ctx.ledger, carbon=ctx.carbon, app="demo", run_id="r1")
    assert res.measurement is not None and res.measurement.energy_j >= 0
    assert res.kind == "dynamic_int8"
    fps = ctx.ledger.footprints(app="demo", phase="compress")
    assert len(fps) == 1 and fps[0].run_id == "r1" and "dynamic_int8" in fps[0].notes
    assert res.to_dict()["measurement"]["method"] == fps[0].method


def test_ledger_needs_carbon(ctx):
    with pytest.raises(ConfigError, match="carbon"):
        run_compression(lambda: None, meter=ctx.meter, ledger=ctx.ledger, app="d", run_id="r")
