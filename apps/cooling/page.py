"""Streamlit page: a week of temperatures, setpoints, power, carbon intensity, the tank's state of
charge and demand-response events for the agent vs the baselines on a held-out pair; the KPI
table (mean ± spread); savings vs footprint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.context import AppContext

EMPTY_HINT = ("No cooling run yet. Produce one with `greenstack run cooling` (a few minutes on "
              "2 cores; finished runs are reused).")
COLORS = {"naive": "#9e9e9e", "ashrae": "#1f77b4", "heuristic": "#ff7f0e", "agent": "#2ca02c",
          "carbon_rule": "#9467bd"}


def _week_figure(traces: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=("zone air temperature (solid) and setpoint (dotted) [degC]",
                                        "HVAC electric power [kW]", "grid carbon intensity [g/kWh]",
                                        "chilled-water tank state of charge [0-1]"))
    first = next(iter(traces.values()))
    for name, tr in traces.items():
        c = COLORS.get(name)
        fig.add_trace(go.Scatter(x=tr.hours, y=tr.temp_c, name=name, line={"color": c}), 1, 1)
        fig.add_trace(go.Scatter(x=tr.hours, y=tr.setpoint_c, name=f"{name} setpoint",
                                 line={"color": c, "dash": "dot"}, showlegend=False), 1, 1)
        fig.add_trace(go.Scatter(x=tr.hours, y=tr.power_kw, name=name, line={"color": c},
                                 showlegend=False), 2, 1)
        fig.add_trace(go.Scatter(x=tr.hours, y=tr.soc, name=name, line={"color": c},
                                 showlegend=False), 4, 1)
    fig.add_trace(go.Scatter(x=first.hours, y=first.ci_g_per_kwh, name="CI (average)",
                             line={"color": "black"}), 3, 1)
    for start, end in _spans(first.hours, first.dr_event):
        fig.add_vrect(x0=start, x1=end, fillcolor="red", opacity=0.12, line_width=0,
                      annotation_text="DR event", annotation_position="top left")
    fig.update_xaxes(title_text="hour of year (local standard time)", row=4, col=1)
    fig.update_layout(height=900, legend={"orientation": "h"})
    return fig


def _spans(hours: Any, flags: Any) -> list[tuple[float, float]]:
    """(start, end) hours of each run of set flags (demand-response events)."""
    spans, start = [], None
    for h, f in zip(hours, flags, strict=True):
        if f and start is None:
            start = float(h)
        elif not f and start is not None:
            spans.append((start, float(h)))
            start = None
    if start is not None:
        spans.append((start, float(hours[-1]) + 1.0))
    return spans


def _kpi_rows(kpis: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, str]]:
    keys = ("energy_kwh_per_m2", "co2_kg_per_m2", "co2_marginal_kg_per_m2", "cost_per_m2",
            "discomfort_kh", "peak_kw", "outside_band_share")
    return [{"controller": n, **{k: f"{r[k]['mean']:.3f} ± {r[k]['spread']:.3f}" for k in keys}}
            for n, r in kpis.items()]


def render(ctx: AppContext) -> None:
    """Page body (no set_page_config)."""
    import streamlit as st

    from apps.cooling.service import service_for

    st.title("Cooling control: RL agent vs baselines")
    svc = service_for(ctx)
    m = svc.card_summary()
    if m is None:
        st.info(EMPTY_HINT)
        return
    st.caption("All KPIs are simulated (ISO 13790 5R1C office, 1 Jun-30 Sep) on weather/grid pairs "
               "the agent never saw; spread = sample std over training seeds.")
    st.subheader("KPIs (mean ± spread)")
    st.dataframe(_kpi_rows(m["kpis"]), use_container_width=True)
    t = m["targets"]
    st.write(f"Agent ({m['agent_algo']}) vs naive: cooling energy "
             f"{t['cooling_energy_vs_naive_pct']['mean_pct']:+.1f} %, CO2 "
             f"{t['co2_vs_naive_pct']['mean_pct']:+.1f} %; "
             f"{t['co2_points_better_than_heuristic']:+.1f} points vs the tuned heuristic. "
             f"Targets met: {t['met']}")
    tanks = svc.storage_sizes()
    tank = st.selectbox("chilled-water tank [kWh thermal]", tanks) if len(tanks) > 1 else 0.0
    labels = svc.held_out_labels(storage_kwh=float(tank))  # the split of that tank's card
    pick = st.selectbox("held-out scenario for the week view", labels)
    st.caption("Shaded: demand-response events (modelled: 14-18 h on the 10 summer weekdays of "
               "highest afternoon carbon intensity); the tank starts each rollout empty.")
    st.plotly_chart(_week_figure(svc.week_traces(labels.index(pick), storage_kwh=float(tank))),
                    use_container_width=True)
    _impact(svc)


def _impact(svc: Any) -> None:
    import streamlit as st

    rep = svc.impact()
    st.subheader("Savings vs footprint")
    st.write(f"Compute footprint (training, compression, evaluation; measured): "
             f"{rep.footprint_kwh:.4f} kWh, {rep.footprint_kg:.4f} kgCO2e. Simulated savings vs "
             f"naive: {rep.savings.co2e_kg:.1f} kgCO2e. Net {rep.net_kg:.1f} kgCO2e "
             f"({rep.net_kg_low:.1f} … {rep.net_kg_high:.1f}); {rep.payback_note}.")
    st.dataframe([{"phase": p.phase, "kWh": p.energy_kwh, "methods": ", ".join(p.methods)}
                  for p in rep.footprint_by_phase], use_container_width=True)
