"""`greenstack run cooling`, `greenstack cooling evaluate|recheck-gate`. Import stays light."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apps.progress import progress_bar

SHOWN = (("energy_kwh_per_m2", "kWh/m2", 2), ("cooling_kwh_per_m2", "cool kWh/m2", 2),
         ("co2_kg_per_m2", "kgCO2/m2", 3), ("co2_marginal_kg_per_m2", "kgCO2/m2 marg.*", 3),
         ("cost_per_m2", "USD/m2", 3), ("discomfort_kh", "discomfort Kh", 2),
         ("peak_kw", "peak kW", 1), ("outside_band_share", "occ. outside band", 3),
         ("dr_within_limit_share", "DR within limit", 2))


PPO_STEPS = 20_000
# With a tank the residual tank action needs more steps and drifts with many more (validation
# window, CO2 vs naive: 50 k -25.0 %, 100 k -27.2 %, 200 k -24.6 %:
# `python benchmarks/cooling_tank_policy.py --variants residual --steps 50000 100000 200000`).
STORAGE_PPO_STEPS = 100_000


def register(run_parsers: Any, top_parsers: Any) -> None:
    """Add ``run cooling`` and the top-level ``cooling evaluate``."""
    p = run_parsers.add_parser(
        "cooling", help="RL cooling control: tune, search, train SAC/PPO, evaluate, gate, savings",
        description="tune heuristic -> successive-halving SAC search -> SAC + PPO per seed -> "
                    "held-out evaluation -> compact policy gate -> savings + model card; finished "
                    "runs are reused (pass --force to recompute)")
    p.add_argument("--building", choices=["office", "datahall"], default="office")
    p.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    p.add_argument("--sac-steps", type=int, default=6000, help="SAC control steps (hours)")
    p.add_argument("--ppo-steps", type=int, default=None,
                   help="PPO control steps (hours); default 20000, 100000 with --storage (the "
                        "tank's residual action, chosen on the validation window: docs/cooling.md)")
    p.add_argument("--storage", type=float, default=0.0, metavar="KWH",
                   help="chilled-water tank, kWh thermal (default 0: none); the agent and the "
                        "carbon rule learn to charge/discharge it; its own model card")
    p.add_argument("--random-dr", action="store_true",
                   help="random demand-response events in the training episodes")
    p.add_argument("--split", choices=["default", "desert-held-out"], default="default",
                   help="training vs held-out weather/grid pairs (desert-held-out: train on Miami "
                        "and Greensboro, hold out Phoenix+BPA among four pairs); its own card")
    p.add_argument("--force", action="store_true", help="recompute finished runs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)

    top = top_parsers.add_parser("cooling", help="cooling app tools")
    sub = top.add_subparsers(dest="cooling_cmd", required=True)
    ev = sub.add_parser("evaluate", help="trained agent + every baseline on one weather/grid pair")
    ev.add_argument("--weather", type=Path, required=True, help="EPW / TMY3 / TMY2 file (.gz ok)")
    ev.add_argument("--grid", type=Path, required=True,
                    help="hourly grid CSV in the shared EIA-930 format (e.g. data/grid/NYIS_...)")
    ev.add_argument("--building", choices=["office", "datahall"], default="office")
    ev.add_argument("--days", type=int, default=None, help="days from 1 June (default: to 30 Sep)")
    ev.add_argument("--storage", type=float, default=0.0, metavar="KWH",
                    help="chilled-water tank, kWh thermal (default 0: none)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=evaluate)
    rc = sub.add_parser("recheck-gate", help="rebuild the compact gate's eval set with today's code "
                        "and data; record its inputs in the card if it is the one the gate ran on",
                        description="for model cards written before cards recorded what the "
                        "gate's eval set is built from: serving refuses their gate until then")
    rc.add_argument("--building", choices=["office", "datahall"], default="office")
    rc.set_defaults(func=recheck_gate)


def print_table(title: str, kpis: dict[str, dict[str, Any]]) -> None:
    """KPI table; values are dicts {mean, spread} or plain numbers."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("controller")
    for _, head, _ in SHOWN:
        table.add_column(head, justify="right")
    for name, row in kpis.items():
        cells = []
        for key, _, digits in SHOWN:
            v = row[key]
            cells.append(f"{v['mean']:.{digits}f} ± {v['spread']:.{digits}f}" if isinstance(v, dict)
                         else f"{v:.{digits}f}")
        table.add_row(name, *cells)
    Console().print(table)


def run(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Run the pipeline and print the KPI table against all baselines."""
    from apps.cooling.service import service_for

    ctx = ctx_factory()
    if getattr(args, "force", False):
        ctx = dataclasses.replace(ctx, force=True)
    opts: dict[str, Any] = {
        "building": getattr(args, "building", "office"),
        "seeds": tuple(range(max(1, getattr(args, "seeds", 3)))),
        "sac_steps": getattr(args, "sac_steps", 6000),
        "storage_kwh": float(getattr(args, "storage", 0.0) or 0.0),
        "random_dr": bool(getattr(args, "random_dr", False)),
        "split": str(getattr(args, "split", "default") or "default")}
    opts["ppo_steps"] = getattr(args, "ppo_steps", None) or (
        STORAGE_PPO_STEPS if opts["storage_kwh"] > 0 else PPO_STEPS)
    svc = service_for(ctx)
    if getattr(args, "json", False):
        print(json.dumps(svc.run_pipeline(**opts).to_dict(), default=str))
        return 0
    bar, update = progress_bar("cooling")
    with bar:
        s = svc.run_pipeline(progress=update, **opts)
    print_table(f"{s.building}: held-out {', '.join(s.eval_scenarios)}, 1 Jun-30 Sep (simulated); "
                f"mean ± spread over {len(opts['seeds'])} seeds; agent = {s.agent_algo}", s.kpis)
    t = s.targets
    print(f"agent vs naive: cooling energy {t['cooling_energy_vs_naive_pct']['mean_pct']:+.1f} %, CO2 "
          f"{t['co2_vs_naive_pct']['mean_pct']:+.1f} %; heuristic CO2 "
          f"{t['heuristic_co2_vs_naive_pct']['mean_pct']:+.1f} % -> agent "
          f"{t['co2_points_better_than_heuristic']:+.1f} points better than heuristic")
    print("targets met: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in t["met"].items()))
    if "rules" in t:
        r = t["rules"]
        pairs = ", ".join(f"{k} {v:+.1f} %" for k, v in r["agent_co2_vs_naive_pct_per_pair"].items())
        print(f"best tuned rule: {r['best_rule']} ({r['best_rule_co2_vs_naive_pct']:+.1f} % CO2 vs "
              f"naive) -> agent {r['co2_points_better_than_best_rule']:+.1f} points better; agent "
              f"CO2 vs naive per pair: {pairs}; DR event time within the limit "
              f"{100 * r['dr_within_limit_share_agent']:.0f} %; tank {s.storage_kwh_th:g} kWh")
    cal = s.calibration
    if "metrics" in cal:
        cd, t_in = cal["metrics"]["cooling_demand"], cal["metrics"]["indoor_temperature"]
        print(f"zone model vs CityLearn building ({cal['scored_on']}, fitted on {cal['fitted_on']}): "
              f"cooling demand CV(RMSE) {cd['cv_rmse_pct']:.1f} % (<= 30), NMBE "
              f"{cd['nmbe_pct']:+.1f} % (+-10) -> Guideline 14 "
              f"{'met' if cal['meets_guideline_14'] else 'NOT met'}; indoor temperature RMSE "
              f"{t_in['rmse_k']:.2f} K")
    else:
        print(f"zone model calibration: {cal.get('skipped')}")
    c = s.compact
    print(f"compact policy: gate {'PASSED' if c['gate_passed'] else 'FAILED'}, KPI deltas "
          f"{'within' if c['kpi_within_bounds'] else 'OUTSIDE'} bounds -> serving {c['served']}")
    for reason in c["gate"].get("reasons", []):
        print(f"  - {reason}")
    print(f"train + compress compute this run: {s.training_energy_kwh * 1000:.3f} Wh (core.energy,"
          f" method as booked in the ledger); reused runs: {s.reused_runs}; card: {s.card_path}")
    print("* marginal = labelled estimate (fossil-only mix of the hour), see docs/cooling.md")
    return 0


def evaluate(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Evaluate the trained agent and every baseline on the given files."""
    from apps.cooling.service import service_for

    storage = float(getattr(args, "storage", 0.0) or 0.0)
    if storage < 0:
        raise SystemExit("--storage must be >= 0 kWh thermal (0: no tank)")
    out = service_for(ctx_factory()).evaluate_files(args.weather, args.grid, args.building, args.days,
                                                   storage)
    if args.json:
        print(json.dumps(out, default=str))
        return 0
    print_table(f"{out['scenario']} ({out['building']}), {out['period']}, tank "
                f"{out['storage_kwh_th']:g} kWh, simulated; agent = {out['agent_algo']}",
                out["controllers"])
    for note in out["notes"]:
        print(f"* {note}")
    return 0


def recheck_gate(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Rebuild the gate's eval set for the building's card; 0 if it matched (inputs recorded)."""
    from apps.cooling.service import service_for

    res = service_for(ctx_factory()).recheck_gate(args.building)
    print(f"{res.card_path}: gated on {res.gated_version[:12]}, rebuilt {res.rebuilt_version[:12]}"
          f" -> {res.reason}")
    return 0 if res.recorded else 1
