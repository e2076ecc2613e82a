"""`greenstack run maintenance`: the pipeline with progress bars, a metrics table and net impact.

Import stays light (argparse only); the service, torch and sklearn load when the command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apps.progress import progress_bar


def _data_subparsers(top_parsers: Any) -> Any:
    """The sub-commands of ``greenstack data``, created here unless another app already did."""
    if "data" not in top_parsers.choices:
        data = top_parsers.add_parser("data", help="fetch public datasets (needs internet)")
        return data.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    parser = top_parsers.choices["data"]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _register_data(top_parsers: Any) -> None:
    subs = _data_subparsers(top_parsers)
    for name, what in (("cmapss", "NASA C-MAPSS turbofan (FD001-FD004)"),
                       ("ai4i", "AI4I 2020 predictive maintenance (UCI)")):
        p = subs.add_parser(name, help=f"download {what}")
        p.add_argument("--url", default=None, help="archive URL (default: the public source)")
        p.add_argument("--dest", type=Path, default=Path("data") / name,
                       help=f"target folder (default: data/{name})")
        p.set_defaults(func=fetch)


def fetch(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Download one dataset; prints the files written."""
    from apps.maintenance.service import fetch_dataset

    for path in fetch_dataset(args.dataset, args.dest, url=args.url):
        print(path)
    return 0


def register(run_parsers: Any, top_parsers: Any) -> None:
    """Add ``run maintenance`` and ``data cmapss|ai4i``."""
    _register_data(top_parsers)
    p = run_parsers.add_parser(
        "maintenance", help="C-MAPSS RUL + AI4I: train, compress, gate, savings",
        description="prepare → train → compress → gate → evaluate → savings → model card + ledger;"
                    " finished stages are reused (pass --force to recompute)")
    p.add_argument("--subset", default="FD001", choices=["FD001", "FD002", "FD003", "FD004"])
    p.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,  # keep a value given before `run`
                   help="folder with NASA's train_/test_/RUL_FD00x.txt (plain or .gz)")
    p.add_argument("--seeds", type=int, default=5, help="seeds for mean ± std (default 5)")
    p.add_argument("--force", action="store_true", default=argparse.SUPPRESS,
                   help="recompute finished stages")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)



def _fmt(stats: dict[str, Any], key: str) -> str:
    return f"{stats['mean'][key]:.2f} ± {stats['std'][key]:.2f}"


def print_summary(d: dict[str, Any]) -> None:
    """Metrics table, gate verdict and net impact (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"C-MAPSS {d['subset']} test set (last window per engine), "
                        f"mean ± std over {len(d['reference']['seeds'])} seeds")
    table.add_column("metric")
    table.add_column("reference (GBM)")
    table.add_column("compact (MLP)")
    for key in ("rmse_capped", "mae_capped", "phm08_capped", "rmse_uncapped", "mae_uncapped",
                "phm08_uncapped"):
        table.add_row(key, _fmt(d["reference"], key), _fmt(d["compact"], key))
    console.print(table)
    g = d["gate"]
    console.print(f"gate: [bold]{g['verdict']}[/bold] speedup {g['speedup'] or 0:.1f}×, size "
                  f"{g['size_bytes']['reference']} → {g['size_bytes']['compact']} bytes; "
                  f"serving {d['served_model']}")
    for reason in g["reasons"]:
        console.print(f"  - {reason}")
    cov, al = d["coverage"], d["alarms"]
    console.print(f"intervals: {cov['target']:.0%} target, test coverage {cov['test_capped']:.2f}"
                  f" (mean width {cov['mean_width_cycles']:.1f} cycles)")
    console.print(f"alarms @ {al['horizon_cycles']:.0f} cycles: precision {al['precision']:.2f}, "
                  f"recall {al['recall']:.2f}")
    if d.get("ai4i"):
        console.print(f"AI4I: PR-AUC {d['ai4i']['pr_auc']:.3f}, F1 {d['ai4i']['f1']:.3f}")
    saved = d["savings"]["saved_co2e_kg"]
    for base, v in saved.items():
        console.print(f"saved vs {base}: {v['central']:.0f} kgCO2e "
                      f"({v['low']:.0f} … {v['high']:.0f}), modelled")
    n = d["net_co2e_kg"]
    console.print(f"footprint {d['footprint_co2e_kg']:.2e} kgCO2e (metered; method per record: greenstack ledger) → net "
                  f"{n['central']:.0f} kgCO2e ({n['low']:.0f} … {n['high']:.0f}) vs fixed-interval")


def run(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Run the pipeline; print the table (or JSON)."""
    from apps.maintenance.service import MaintenanceService

    ctx = ctx_factory()
    subset = getattr(args, "subset", "FD001")
    # A service of its own: the subset and data folder are this command's, not the context's.
    service = MaintenanceService(ctx, subset=subset, data_dir=getattr(args, "data_dir", None))
    seeds = tuple(range(max(1, getattr(args, "seeds", 5))))
    force = bool(getattr(args, "force", False)) or None
    if getattr(args, "json", False):
        summary = service.run_pipeline(seeds=seeds, force=force)
        print(json.dumps(summary.to_dict(), default=str))
        return 0
    bar, update = progress_bar()
    with bar:
        summary = service.run_pipeline(progress=update, seeds=seeds, force=force)
    print_summary(summary.to_dict())
    return 0
