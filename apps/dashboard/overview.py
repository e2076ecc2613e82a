"""Dashboard overview: the impact ledger, per app — savings next to footprint, net, payback, SCI.

Every number shows its range and how it was obtained (measurement method, intensity source);
savings of kind ``monitoring`` (emissions an app *detects*, e.g. forest loss) are shown apart and
never counted as savings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apps.registry import app_title

if TYPE_CHECKING:
    from apps.context import AppContext
    from core.impact import ImpactReport

EMPTY_HELP = """The impact ledger is empty, so there is nothing to compare yet.

Produce the numbers by running the apps (each trains or reuses its models, compresses them,
gates the compressed model against the reference, and records footprint and savings):"""


_MASS_UNITS = ((1e3, "tCO2e"), (1.0, "kgCO2e"), (1e-3, "gCO2e"), (1e-6, "mgCO2e"),
               (1e-9, "µgCO2e"), (1e-12, "ngCO2e"))


def fmt_kg(value_kg: float) -> str:
    """kgCO2e in the largest unit (t, kg, g, mg, µg, ng) that keeps the number >= 1, 3 digits."""
    magnitude = abs(value_kg)
    if magnitude == 0:
        return "0 kgCO2e"
    # 999.96 g reads as 1.00 kg, not 1e+03 g; below 1 ng it stays in ng.
    scale, unit = next(
        ((s, u) for s, u in _MASS_UNITS if magnitude >= s * 0.9995), _MASS_UNITS[-1]
    )
    x = value_kg / scale
    digits = 0 if abs(x) >= 99.95 else 1 if abs(x) >= 9.995 else 2
    return f"{x:.{digits}f} {unit}"


def fmt_payback(report: ImpactReport) -> str:
    """Payback time in words."""
    if report.payback_days is None:
        return "not at stated rates"
    if report.payback_days == 0:
        return "paid back"
    if report.payback_days < 1:
        return f"{report.payback_days * 24:.1f} h"
    return f"{report.payback_days:.1f} days"


def summary_rows(reports: dict[str, ImpactReport]) -> list[dict[str, Any]]:
    """One table row per app: footprint, savings, net (with ranges), payback, methods."""
    rows = []
    for app, r in reports.items():
        methods = sorted({m for p in r.footprint_by_phase for m in p.methods})
        rows.append({
            "App": app_title(app),
            "Footprint": fmt_kg(r.footprint_kg),
            "Footprint range": f"{fmt_kg(r.footprint_kg_low)} – {fmt_kg(r.footprint_kg_high)}",
            "Savings": fmt_kg(r.savings.co2e_kg),
            "Savings range": f"{fmt_kg(r.savings.co2e_kg_low)} – {fmt_kg(r.savings.co2e_kg_high)}",
            "Net impact": fmt_kg(r.net_kg),
            "Net range": f"{fmt_kg(r.net_kg_low)} – {fmt_kg(r.net_kg_high)}",
            "Payback": fmt_payback(r),
            "Monitoring (reported, not a saving)":
                fmt_kg(r.monitoring.co2e_kg) if r.monitoring.records else "—",
            "Energy measured": f"{r.footprint_kwh:.3g} kWh",
            "Measurement methods": ", ".join(methods) or "—",
        })  # fmt: skip
    return rows


def savings_rows(ledger: Any, app: str) -> list[dict[str, Any]]:
    """Each saving record of an app, in ledger order, with whether it counts and its basis.

    Whether a record counts follows core.impact (``split_savings``): an older estimate of the same
    app, kind and baseline is shown but marked superseded; ``monitoring`` (superseded the same way,
    per area) is reported apart, never counted as a saving.
    """
    from core.impact import MONITORING, estimate_key, split_savings

    records = ledger.savings(app=app)
    # One split for both groups: the key holds the kind, so monitoring never supersedes a saving.
    counted = split_savings(records).counted
    counted_ids = {s.id for s in counted}
    latest_id = {estimate_key(s): s.id for s in counted}
    rows = []
    for s in records:
        if s.id not in counted_ids:
            status = f"no: superseded by #{latest_id[estimate_key(s)]}"
        elif s.kind == MONITORING:
            status = "no: monitoring, reported apart"
        else:
            status = "yes"
        rows.append({
            "Record": f"#{s.id}",
            "Kind": s.kind,
            "Counted": status,
            "Central": fmt_kg(s.co2e_kg),
            "Range": f"{fmt_kg(s.co2e_kg_low)} – {fmt_kg(s.co2e_kg_high)}",
            "Baseline": s.baseline,
            "Method": s.method,
            "Assumptions": _assumptions_text(s.assumptions),
            "Run": s.run_id,
        })  # fmt: skip
    return rows


def _assumptions_text(assumptions: dict[str, Any]) -> str:
    text = "; ".join(
        f"{k} = {v.get('value')} ({v.get('source', 'no source')})" if isinstance(v, dict)
        else f"{k} = {v}"
        for k, v in assumptions.items()
    )
    return text or "—"


def sci_rows(report: ImpactReport) -> list[dict[str, Any]]:
    """Operational SCI per functional unit (gCO2e and J per unit) by phase."""
    return [
        {"Phase": s.phase, "Functional unit": s.unit, "Units": s.count,
         "gCO2e per unit": f"{s.co2e_g_per_unit:.3g}", "J per unit": f"{s.energy_j_per_unit:.3g}"}
        for s in report.sci
    ]


def render(ctx: AppContext) -> None:
    """The overview page body."""
    import streamlit as st

    from core.impact import ImpactReport

    st.title("Impact overview")
    st.caption(
        "What each app saves next to what it costs, from the impact ledger. Ranges combine each "
        "measurement's uncertainty with each saving's stated low–high estimate."
    )
    _render_intensity(ctx)
    apps = ctx.ledger.apps()
    if not apps:
        st.info(EMPTY_HELP)
        st.code("make demo              # everything: run all apps, then serve API + dashboard\n"
                "greenstack run all     # or only the runs\n"
                "greenstack run maintenance   # or one app", language="bash")
        return
    reports = {app: ImpactReport.from_ledger(ctx.ledger, app=app) for app in apps}
    total = ImpactReport.from_ledger(ctx.ledger)
    _render_totals(total)
    left, right = st.columns(2)
    left.plotly_chart(savings_vs_footprint_figure(reports), width="stretch")
    right.plotly_chart(footprint_by_phase_figure(reports), width="stretch")
    st.subheader("Per app")
    st.dataframe(summary_rows(reports), hide_index=True, width="stretch")
    _render_models(ctx)
    for app, report in reports.items():
        _render_app_details(ctx, app, report)


def _render_intensity(ctx: AppContext) -> None:
    import streamlit as st

    i = ctx.carbon.intensity()
    st.caption(
        f"Grid intensity used for new runs: **{i.g_per_kwh:.0f} gCO2e/kWh** in zone {i.zone} "
        f"({i.kind}, {i.scope}, {i.gas}; {i.method}) — {i.source}, {i.year}."
    )


def _render_totals(total: ImpactReport) -> None:
    import streamlit as st

    cols = st.columns(4)
    cols[0].metric("Footprint (all apps)", fmt_kg(total.footprint_kg),
                   help=f"range {fmt_kg(total.footprint_kg_low)} – {fmt_kg(total.footprint_kg_high)}")
    cols[1].metric("Savings (all apps)", fmt_kg(total.savings.co2e_kg),
                   help=f"range {fmt_kg(total.savings.co2e_kg_low)} – "
                        f"{fmt_kg(total.savings.co2e_kg_high)}")
    cols[2].metric("Net impact", fmt_kg(total.net_kg),
                   help=f"savings − footprint; range {fmt_kg(total.net_kg_low)} – "
                        f"{fmt_kg(total.net_kg_high)}")
    cols[3].metric("Payback", fmt_payback(total), help=total.payback_note)
    if total.savings.superseded:
        st.caption(f"Savings: {total.savings_note}.")
    if total.monitoring.records:
        st.caption(
            f"Monitoring (reported, not counted as savings): {fmt_kg(total.monitoring.co2e_kg)} "
            f"represented by what the apps detected."
        )


def _range_bar(values: list[tuple[float, float, float]]) -> dict[str, Any]:
    """Plotly asymmetric error bars from (low, central, high) triples."""
    return {
        "type": "data", "symmetric": False,
        "array": [high - central for _, central, high in values],
        "arrayminus": [central - low for low, central, _ in values],
    }  # fmt: skip


def savings_vs_footprint_figure(reports: dict[str, ImpactReport]) -> Any:
    """Grouped bars per app: footprint and savings (kgCO2e, log scale) with low–high ranges."""
    import plotly.graph_objects as go

    titles = [app_title(a) for a in reports]
    footprint = [(r.footprint_kg_low, r.footprint_kg, r.footprint_kg_high) for r in reports.values()]
    saved = [(r.savings.co2e_kg_low, r.savings.co2e_kg, r.savings.co2e_kg_high)
             for r in reports.values()]
    fig = go.Figure()
    fig.add_bar(name="footprint (measured)", x=titles, y=[v[1] for v in footprint],
                error_y=_range_bar(footprint), marker_color="#c62828")
    fig.add_bar(name="savings (estimated)", x=titles, y=[v[1] for v in saved],
                error_y=_range_bar(saved), marker_color="#2e7d32")
    fig.update_layout(
        barmode="group", yaxis_type="log", yaxis_title="kgCO2e (log scale)",
        title="Saved vs. own footprint (whiskers: range)",
        legend_title_text="", margin={"t": 60, "b": 40},
    )
    return fig


def footprint_by_phase_figure(reports: dict[str, ImpactReport]) -> Any:
    """Stacked bars per app: footprint by phase in gCO2e."""
    import plotly.graph_objects as go

    titles = [app_title(a) for a in reports]
    fig = go.Figure()
    for phase in sorted({p.phase for r in reports.values() for p in r.footprint_by_phase}):
        grams = [
            1000.0 * next((p.co2e_kg for p in r.footprint_by_phase if p.phase == phase), 0.0)
            for r in reports.values()
        ]
        fig.add_bar(name=phase, x=titles, y=grams)
    fig.update_layout(barmode="stack", yaxis_title="gCO2e", title="Footprint by phase",
                      legend_title_text="phase", margin={"t": 60, "b": 40})
    return fig


def model_rows(ctx: AppContext) -> list[dict[str, Any]]:
    """Every model card: what serves and the quality gate's verdict, with the reason."""
    from apps.registry import APP_NAMES
    from core.gates import model_health

    return [
        {"App": app_title(app), "Model card": m.card, "Reference": m.reference or "—",
         "Compressed candidate": m.candidate or "—", "Gate": m.gate_verdict,
         "Serving": m.served, "Why": m.reason}
        for app in APP_NAMES for m in model_health(ctx.models_dir, app)
    ]


def _render_models(ctx: AppContext) -> None:
    import streamlit as st

    rows = model_rows(ctx)
    if rows:
        st.subheader("Models and quality gates")
        st.caption("A compressed model serves only if its latest gate passed on the current "
                   "eval set; otherwise the reference serves.")
        st.dataframe(rows, hide_index=True, width="stretch")


def _render_app_details(ctx: AppContext, app: str, report: ImpactReport) -> None:
    import streamlit as st

    with st.expander(f"{app_title(app)}: how these numbers were obtained"):
        st.markdown(f"**Payback:** {report.payback_note}.")
        phase_rows = [
            {"Phase": p.phase, "Records": p.records, "Energy": f"{p.energy_kwh:.3g} kWh",
             "Emissions": fmt_kg(p.co2e_kg),
             "Range": f"{fmt_kg(p.co2e_kg_low)} – {fmt_kg(p.co2e_kg_high)}",
             "Method": ", ".join(p.methods)}
            for p in report.footprint_by_phase
        ]
        if phase_rows:
            st.markdown("**Footprint by phase**")
            st.dataframe(phase_rows, hide_index=True, width="stretch")
        saving_rows = savings_rows(ctx.ledger, app)
        if saving_rows:
            st.markdown("**Savings and their basis**")
            st.dataframe(saving_rows, hide_index=True, width="stretch")
            st.caption(f"{report.savings_note}.")
        if report.sci:
            st.markdown("**SCI per functional unit** (operational; embodied not in the ledger)")
            st.dataframe(sci_rows(report), hide_index=True, width="stretch")
        if report.intensity_sources:
            st.caption("Intensity sources: " + "; ".join(report.intensity_sources))
