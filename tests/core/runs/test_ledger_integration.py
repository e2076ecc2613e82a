"""RunStore and successive halving book real ledger records (temp SQLite, stated zone)."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.runs import RunStore, run_key, successive_halving
from core.units import co2e_kg


def test_fresh_run_books_footprint_and_reuse_books_saving(ctx):
    store = RunStore(ctx.cache_dir / "runs", ledger=ctx.ledger, meter=ctx.meter,
                     carbon=ctx.carbon)
    key = run_key({"model": "ridge"}, "fp-1", "v1")
    first = store.get_or_run(key, lambda a: {"n": sum(range(50000))}, app="demo")
    fps = ctx.ledger.footprints(app="demo")
    assert len(fps) == 1 and fps[0].phase == "train" and fps[0].run_id == key
    assert ctx.ledger.savings(app="demo") == []
    store.get_or_run(key, lambda a: {"n": -1}, app="demo")
    savings = ctx.ledger.savings(app="demo", kind="reuse")
    assert len(savings) == 1
    s = savings[0]
    g = ctx.carbon.intensity(at=None).g_per_kwh
    assert s.co2e_kg == pytest.approx(co2e_kg(first.measurement.energy_j, g))
    assert s.co2e_kg_low <= s.co2e_kg <= s.co2e_kg_high
    assert s.energy_kwh == pytest.approx(first.measurement.energy_kwh)
    assert len(ctx.ledger.footprints(app="demo")) == 1  # reuse cost nothing new


def test_ledger_without_carbon_is_a_config_error(ctx):
    with pytest.raises(ConfigError, match="carbon"):
        RunStore(ctx.cache_dir / "runs", ledger=ctx.ledger, meter=ctx.meter)


def test_halving_books_its_compute(ctx):
    res = successive_halving([{"k": k} for k in range(4)], lambda c, b: -abs(c["k"] - 2),
                             min_budget=1, eta=2, meter=ctx.meter, ledger=ctx.ledger,
                             carbon=ctx.carbon, app="demo", run_id="search-1")
    assert res.best_config == {"k": 2}
    fps = ctx.ledger.footprints(app="demo", phase="train")
    assert len(fps) == 1 and "successive halving" in fps[0].notes
