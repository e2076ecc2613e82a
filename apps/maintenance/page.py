"""Streamlit page: fleet view, predicted vs true RUL, gate table, savings vs footprint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.context import AppContext

EMPTY_HINT = "No maintenance run yet. Produce one with `greenstack run maintenance` (about 2 min)."


def _fleet_chart(fleet: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    alarms = fleet.get("alarm") or [False] * len(fleet["units"])  # older runs stored none
    rows = sorted(zip(fleet["units"], fleet["pred"], fleet["low"], fleet["high"], alarms,
                      strict=True), key=lambda r: r[1])
    units, pred, low, high, alarm = (list(c) for c in zip(*rows, strict=True))
    fig = go.Figure(go.Bar(
        x=[str(u) for u in units], y=pred,
        error_y={"type": "data", "symmetric": False,
                 "array": [h - p for h, p in zip(high, pred, strict=True)],
                 "arrayminus": [p - lo for p, lo in zip(pred, low, strict=True)]},
        marker_color=["crimson" if a else "steelblue" for a in alarm]))
    fig.update_layout(title="Fleet: engines by predicted RUL (90 % interval; red = alarm)",
                      xaxis_title="engine", yaxis_title="predicted RUL [cycles]", height=380)
    return fig


def _pred_vs_true(fleet: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    cap = fleet["cap"]
    true = [min(t, cap) for t in fleet["true_rul"]]
    fig = go.Figure([
        go.Scatter(x=true, y=fleet["pred"], mode="markers", name="engines",
                   text=[f"engine {u}" for u in fleet["units"]]),
        go.Scatter(x=[0, cap], y=[0, cap], mode="lines", name="ideal"),
    ])
    fig.update_layout(title="Predicted vs true RUL (capped), official test set",
                      xaxis_title="true RUL [cycles]", yaxis_title="predicted [cycles]", height=380)
    return fig


def _gate_rows(gate: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"slice": "overall", **{k: gate["overall"][k] for k in ("n", "reference", "candidate",
                                                                    "drop", "passed")}}]
    rows += [{"slice": s["slice"], **{k: s[k] for k in ("n", "reference", "candidate", "drop",
                                                        "passed")}} for s in gate["slices"]]
    return rows


def _savings_chart(card: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    fp = card["footprint"][0]
    saved = fp["saved_co2e_kg"]
    names = [f"saved vs {b}" for b in saved] + ["footprint (metered)"]
    central = [saved[b]["central"] for b in saved] + [fp["footprint_co2e_kg"]]
    err_hi = [saved[b]["high"] - saved[b]["central"] for b in saved] + [0.0]
    err_lo = [saved[b]["central"] - saved[b]["low"] for b in saved] + [0.0]
    fig = go.Figure(go.Bar(x=names, y=central, error_y={"type": "data", "symmetric": False,
                                                         "array": err_hi, "arrayminus": err_lo}))
    fig.update_layout(title="Savings (modelled, low–high) vs footprint (metered) [kgCO2e]",
                      yaxis_type="log", height=380)
    return fig


def render(ctx: AppContext) -> None:
    """Page body (no set_page_config)."""
    import streamlit as st

    from apps.maintenance.service import service_for
    from core.errors import ModelError

    st.header("Predictive maintenance — C-MAPSS turbofan RUL")
    subset = st.selectbox("subset", ["FD001", "FD003", "FD002", "FD004"])
    service = service_for(ctx)
    try:
        card = service.model_card(subset)
    except ModelError:
        st.info(EMPTY_HINT.replace("maintenance`", f"maintenance --subset {subset}`"))
        return
    metrics, gate = card["metrics"], card["gates"][-1]
    ref, comp = metrics["reference"]["mean"], metrics["compact"]["mean"]
    cols = st.columns(4)
    cols[0].metric("RMSE (capped), reference", f"{ref['rmse_capped']:.2f}")
    cols[1].metric("RMSE (capped), compact", f"{comp['rmse_capped']:.2f}")
    cols[2].metric("gate", gate["verdict"])
    cols[3].metric("serving", metrics["served_model"])
    fleet = service.fleet(subset)
    if fleet:
        st.plotly_chart(_fleet_chart(fleet), use_container_width=True)
        st.plotly_chart(_pred_vs_true(fleet), use_container_width=True)
    st.subheader("Gate: reference vs compact (RMSE per slice, cycles)")
    st.dataframe(_gate_rows(gate), use_container_width=True)
    speed = gate.get("speed") or {}
    st.caption(f"speedup {speed.get('speedup', 0):.1f}× (batch 1, 1 thread); size "
               f"{gate['reference_size_bytes']} → {gate['candidate_size_bytes']} bytes")
    st.plotly_chart(_savings_chart(card), use_container_width=True)
    st.caption("Savings are modelled on held-out engines with named factors (see the model card); "
               "footprint is measured by core.energy.")
