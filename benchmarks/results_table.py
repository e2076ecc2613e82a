"""Print the README's results table (Markdown) from the ledger and the model cards.

Every number comes from what the apps recorded: the impact ledger (footprint, savings, monitoring,
net, payback) and each model card's latest quality gate (metric reference → candidate, verdict,
speed-up, energy per unit, size). Run it after ``make demo`` with the same settings:

    GREENSTACK_ZONE=US-CISO .venv/bin/python benchmarks/results_table.py
"""

from __future__ import annotations

import sys
from typing import Any


def _gate_cell(gate: dict[str, Any] | None) -> str:
    if not gate:
        return "no gate run"
    overall = gate.get("overall") or {}
    speed = (gate.get("speed") or {}).get("speedup")
    energy = gate.get("energy") or {}
    parts = [
        f"{gate.get('metric')}: {overall.get('reference', float('nan')):.4g} → "
        f"{overall.get('candidate', float('nan')):.4g}",
        f"**{gate.get('verdict') or ('PASS' if gate.get('passed') else 'FAIL')}**",
    ]
    if speed:
        parts.append(f"{speed:.3g}× faster")
    if energy.get("reduction") is not None:
        parts.append(f"−{100 * energy['reduction']:.0f} % J/unit ({energy.get('method')})")
    if gate.get("size_ratio") is not None:
        parts.append(f"size ×{gate['size_ratio']:.3g}")
    return "; ".join(parts)


def _models_cell(models_dir: Any, app: str) -> tuple[str, str]:
    from core.errors import GreenstackError
    from core.gates import ModelCard, model_health

    gates, serving = [], []
    for m in model_health(models_dir, app):
        path = models_dir / app / m.card
        try:
            gate = ModelCard.load(path).latest_gate
        except GreenstackError:  # a corrupt card: model_health already gives the reason
            gate = None
        gates.append(f"{m.card.removesuffix('.card.json')}: {_gate_cell(gate)}")
        serving.append(f"{m.served} ({m.candidate if m.served == 'candidate' else m.reference})")
    return "<br>".join(gates) or "no model card", "<br>".join(serving) or "—"


def _savings_cell(ledger: Any, app: str) -> str:
    from apps.dashboard.overview import fmt_kg

    rows = [
        f"{fmt_kg(s.co2e_kg)} ({fmt_kg(s.co2e_kg_low)} – {fmt_kg(s.co2e_kg_high)}) vs {s.baseline}"
        f" [{s.method}]"
        for s in ledger.savings(app=app) if s.kind != "monitoring"
    ]
    return "<br>".join(rows) or "none recorded"


def results_table(ctx: Any) -> str:
    """The Markdown table, one row per app with ledger records or model cards."""
    from apps.dashboard.overview import fmt_kg, fmt_payback
    from apps.registry import APP_NAMES, app_title
    from core.impact import ImpactReport

    lines = [
        "| app | quality gate (latest) | serving | footprint (method) | savings (range, baseline) "
        "| monitoring (not a saving) | net (range) | payback |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for app in APP_NAMES:
        r = ImpactReport.from_ledger(ctx.ledger, app=app)
        gates, serving = _models_cell(ctx.models_dir, app)
        if not r.footprint_by_phase and not r.savings.records and serving == "—":
            lines.append(f"| {app_title(app)} | not run yet (`greenstack run {app}`) |" + " |" * 6)
            continue
        methods = ", ".join(sorted({m for p in r.footprint_by_phase for m in p.methods})) or "—"
        lines.append(
            f"| {app_title(app)} | {gates} | {serving} | {fmt_kg(r.footprint_kg)} "
            f"({r.footprint_kwh:.3g} kWh; {methods}) | {_savings_cell(ctx.ledger, app)} | "
            f"{fmt_kg(r.monitoring.co2e_kg) if r.monitoring.records else '—'} | "
            f"{fmt_kg(r.net_kg)} ({fmt_kg(r.net_kg_low)} – {fmt_kg(r.net_kg_high)}) | "
            f"{fmt_payback(r)} |"
        )
    zones = sorted({z for a in APP_NAMES for z in ImpactReport.from_ledger(ctx.ledger, a).zones})
    lines.append("")
    lines.append(f"Grid zone(s): {', '.join(zones) or '—'}; intensity: "
                 + "; ".join(ImpactReport.from_ledger(ctx.ledger).intensity_sources))
    return "\n".join(lines)


def main() -> int:
    from apps.context import build_context
    from apps.settings import Settings
    from core.errors import GreenstackError

    try:
        ctx = build_context(Settings())
    except GreenstackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(results_table(ctx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
