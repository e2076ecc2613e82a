"""Every dashboard page under streamlit.testing.v1.AppTest, on an empty and a filled ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apps.dashboard.pages import APP_PAGES, OVERVIEW, available_pages

PROJECT_ROOT = Path(__file__).resolve().parents[3]
RENDER_TIMEOUT_S = 120  # app pages may import torch on first render, on 2 busy cores
PAGE_IDS = [p.page_id for p in available_pages()]


def _page_script(page_id: str, ctx) -> None:
    # Runs inside AppTest as a standalone script: imports must live here.
    from apps.dashboard.pages import render_page

    render_page(page_id, ctx)


def _run_page(page_id: str, ctx) -> AppTest:
    at = AppTest.from_function(_page_script, kwargs={"page_id": page_id, "ctx": ctx},
                               default_timeout=RENDER_TIMEOUT_S)
    return at.run()


def _all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [i.value for i in at.info]
    parts += [h.value for h in at.title] + [h.value for h in at.header]
    parts += [h.value for h in at.subheader] + [c.value for c in at.caption]
    parts += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    return "\n".join(str(p) for p in parts)


def _seed(ctx) -> None:
    intensity = ctx.carbon.intensity()
    for app, saved in (("maintenance", 3.0), ("cooling", 0.0004)):
        for phase in ("train", "serve"):
            with ctx.meter.window(f"{app}-{phase}", unit="sample") as w:
                w.count += sum(1 for _ in range(10_000))
            ctx.ledger.record_footprint(app=app, run_id=f"t-{app}", phase=phase,
                                        measurement=w.measurement, intensity=intensity)
        ctx.ledger.record_saving(
            app=app, run_id=f"t-{app}", kind="test_saving", co2e_kg=saved,
            co2e_kg_low=saved / 2, co2e_kg_high=saved * 2, energy_kwh=None,
            baseline="test baseline", method="test fixture",
            assumptions={"factor": {"value": 3.16, "source": "test"}},
        )


@pytest.mark.parametrize("page_id", PAGE_IDS)
def test_page_renders_on_empty_ledger(page_id: str, ctx) -> None:
    at = _run_page(page_id, ctx)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert _all_text(at).strip(), f"{page_id} page rendered nothing"


@pytest.mark.parametrize("page_id", PAGE_IDS)
def test_page_renders_on_filled_ledger(page_id: str, ctx) -> None:
    _seed(ctx)
    at = _run_page(page_id, ctx)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_overview_empty_ledger_says_how_to_produce_data(ctx) -> None:
    at = _run_page(OVERVIEW.page_id, ctx)
    text = _all_text(at) + "\n".join(c.value for c in at.code)
    assert "greenstack run all" in text and "make demo" in text
    assert not at.get("plotly_chart")


def test_overview_filled_ledger_shows_numbers_charts_and_methods(ctx) -> None:
    _seed(ctx)
    at = _run_page(OVERVIEW.page_id, ctx)
    text = _all_text(at)
    assert "Net impact" in text
    for app in ("maintenance", "cooling"):
        assert APP_PAGES[app].title in text or any(
            APP_PAGES[app].title in str(df.value) for df in at.dataframe
        )
    assert at.get("plotly_chart"), "no chart on the overview"
    assert at.dataframe, "no per-app table on the overview"
    # No raw JSON for stakeholders.
    assert not at.json


def test_streamlit_app_navigation_runs(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GREENSTACK_ZONE", "US-CISO")
    monkeypatch.setenv("GREENSTACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GREENSTACK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GREENSTACK_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"),
                           default_timeout=RENDER_TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert "greenstack run all" in _all_text(at) + "\n".join(c.value for c in at.code)


def test_streamlit_app_without_zone_explains_the_fix(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GREENSTACK_ZONE", raising=False)
    monkeypatch.setenv("GREENSTACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GREENSTACK_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"),
                           default_timeout=RENDER_TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert at.error and "GREENSTACK_ZONE" in "\n".join(i.value for i in at.info)


def test_overview_shows_which_model_serves_and_why(ctx) -> None:
    from core.gates import ModelCard
    from core.gates.card import ModelRef

    _seed(ctx)
    gate = {"candidate": "mlp-small", "eval_version": "v1", "passed": False, "verdict": "FAIL",
            "reasons": ["rmse drop 2.1 > 0.5"]}
    ModelCard(app="maintenance", name="fd001", reference=ModelRef(name="gbm"),
              candidate=ModelRef(name="mlp-small"), gates=(gate,), eval_version="v1",
              ).save(ctx.app_models_dir("maintenance") / "fd001.card.json")
    at = _run_page(OVERVIEW.page_id, ctx)
    assert not at.exception, at.exception
    assert "Models and quality gates" in _all_text(at)
    table = next(df.value for df in at.dataframe if "Gate" in df.value.columns)
    row = table.iloc[0]
    assert (row["Gate"], row["Serving"]) == ("FAIL", "reference")
    assert "rmse drop 2.1 > 0.5" in row["Why"]


def test_readme_results_table_comes_from_ledger_and_cards(ctx) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "results_table", PROJECT_ROOT / "benchmarks" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _seed(ctx)
    table = module.results_table(ctx)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("|")}
    assert "3.00 kgCO2e (1.50 kgCO2e – 6.00 kgCO2e) vs test baseline" in rows["Predictive maintenance"]
    assert "not run yet" in rows["LLM assistant"]
    assert "US-CISO" in table
