"""The Streamlit page under AppTest: empty state and a trained model (fleet, gate, savings)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script(ctx) -> None:
    from apps.maintenance.page import render

    render(ctx)


def _run(ctx) -> AppTest:
    at = AppTest.from_function(_script, kwargs={"ctx": ctx}, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_page_says_how_to_produce_data(ctx) -> None:
    at = _run(ctx)
    assert any("greenstack run maintenance" in i.value for i in at.info)


def test_trained_page_shows_fleet_gate_and_savings(trained, small_ctx) -> None:
    _, summary = trained
    at = _run(small_ctx)
    assert not at.info
    assert [m.value for m in at.metric][2] == summary.gate["verdict"]
    assert len(at.get("plotly_chart")) == 3  # fleet, predicted vs true, savings vs footprint
    assert len(at.dataframe) == 1  # gate table
