"""The ``greenstack`` command line: measure, ledger, zones, report, run <app>|all, and the surfaces.

Only argparse and the standard library load at import, so ``greenstack --help`` stays fast; every
command imports what it needs (rich, pandas, SQLAlchemy, the apps) when it runs. Settings come
from ``GREENSTACK_*`` environment variables overridden by flags, built here at the process edge.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from apps.registry import APP_NAMES, module_exists

# Options every command accepts (before or after the command name); they override GREENSTACK_*.
COMMON_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--zone", {"help": "grid zone, e.g. FR, DE, US-CISO (env GREENSTACK_ZONE; no default)"}),
    ("--grid-csv", {"type": Path, "help": "hourly grid CSV (EIA-930 derived format) for the zone"}),
    ("--data-dir", {"type": Path, "help": "shipped/sample data root (default: data)"}),
    ("--ledger-url", {"help": "SQLAlchemy URL of the ledger (default: sqlite under .greenstack)"}),
    ("--pue", {"type": float, "help": "facility PUE applied to measured energy (default 1.0)"}),
    ("--force", {"action": "store_true", "help": "rerun finished runs instead of reusing them"}),
)
CtxFactory = Callable[[], Any]


# -- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The full parser, with app and surface commands registered where their modules exist."""
    parser = argparse.ArgumentParser(
        prog="greenstack",
        description="Measure the energy and carbon of ML work and report what the apps save.",
    )
    for flag, kwargs in COMMON_OPTIONS:
        parser.add_argument(flag, default=False if flag == "--force" else None, **kwargs)
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_measure(top)
    _add_ledger(top)
    zones = top.add_parser("zones", help="list grid zones with intensity, source, year and scope")
    zones.add_argument("--search", default=None, help="only zones whose id or name contains this")
    zones.set_defaults(func=cmd_zones)
    report = top.add_parser("report", help="impact report per app: footprint, savings, net, payback")
    report.add_argument("--app", default=None)
    report.add_argument("--format", choices=("table", "json"), default="table")
    report.set_defaults(func=cmd_report)
    _add_run(parser, top)
    from apps.cli import surfaces

    surfaces.register(top)
    _add_common_everywhere(parser)
    return parser


def _add_measure(top: Any) -> None:
    p = top.add_parser("measure", help="run a command, measure its energy and carbon, record it",
                       description="greenstack measure [--zone Z] [--app A] -- COMMAND ...")  # fmt: skip
    p.add_argument("--app", default="cli", help="ledger app name for this record (default: cli)")
    p.add_argument("--phase", default="batch", choices=("train", "compress", "evaluate", "serve", "batch"))
    p.add_argument("--name", default="measure", help="measurement window name")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    p.set_defaults(func=cmd_measure)


def _add_ledger(top: Any) -> None:
    p = top.add_parser("ledger", help="show or export ledger records")
    p.add_argument("--app", default=None)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--table", choices=("footprints", "savings"), default="footprints",
                   help="which table --format csv writes (json writes both)")  # fmt: skip
    p.set_defaults(func=cmd_ledger)


def _add_run(parser: argparse.ArgumentParser, top: Any) -> None:
    run = top.add_parser("run", help="run an app's pipeline (or all of them)")
    run_parsers = run.add_subparsers(dest="app", metavar="APP", required=True)
    registered = []
    for app in APP_NAMES:  # the suite's order
        if module_exists(f"apps.{app}.cli"):
            import importlib

            importlib.import_module(f"apps.{app}.cli").register(run_parsers, top)
            registered.append(app)
    everything = run_parsers.add_parser("all", help=f"run {', '.join(registered) or 'no apps'}")
    everything.set_defaults(func=cmd_run_all, _root=parser, _apps=tuple(registered))


def _add_common_everywhere(parser: argparse.ArgumentParser) -> None:
    """Give every sub-command the common options (SUPPRESS: a value before the command stays)."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in set(action.choices.values()):
            for flag, kwargs in COMMON_OPTIONS:
                # A command that defines the flag itself keeps its own definition.
                with contextlib.suppress(argparse.ArgumentError):
                    sub.add_argument(flag, default=argparse.SUPPRESS, **kwargs)
            _add_common_everywhere(sub)


# -- settings and context, built once at the edge -------------------------------------------------
def context_factory(args: argparse.Namespace) -> CtxFactory:
    """A callable that builds the AppContext on first use (zone checked before the ledger opens)."""
    cache: dict[str, Any] = {}

    def build() -> Any:
        if "ctx" not in cache:
            from apps.context import build_context
            from apps.settings import settings_from
            from core.carbon import resolve_source

            settings = settings_from(args)
            resolve_source(settings.zone, settings.grid_csv)  # fail before touching the ledger
            cache["ctx"] = build_context(settings)
        return cache["ctx"]

    return build


def _open_ledger(args: argparse.Namespace) -> Any:
    from apps.settings import settings_from
    from core.ledger import Ledger

    return Ledger(settings_from(args).resolved_ledger_url())


def _console() -> Any:
    from rich.console import Console

    # Piped output (CI logs, `| less`) gets a wide fixed width instead of rich's 80 columns.
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _add_row(table: Any, *cells: str) -> None:
    """Add a row with markup escaped: method labels like ``[modelled]`` must print as written."""
    from rich.markup import escape

    table.add_row(*(escape(c) for c in cells))


# -- commands ------------------------------------------------------------------------------------
def cmd_measure(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """Run the command as a child process inside a meter window; print and record the result."""
    import resource
    import shlex
    import subprocess
    import uuid

    from core.errors import ConfigError

    command = list(args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd)
    if not command:
        raise ConfigError("nothing to measure: give a command after --, e.g. "
                          "greenstack measure --zone FR -- python train.py")  # fmt: skip
    ctx = ctx_factory()
    intensity = ctx.carbon.intensity(None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ctx.meter.window(args.name) as window:
        try:
            returncode = subprocess.run(command, check=False).returncode
        except (FileNotFoundError, PermissionError) as e:
            raise ConfigError(f"cannot run {command[0]!r}: {e}") from e
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = window.measurement
    intensity, note = _intensity_for_run(ctx.carbon, intensity, m.start_unix_s)
    record = ctx.ledger.record_footprint(
        app=args.app, run_id=uuid.uuid4().hex[:12], phase=args.phase, measurement=m,
        intensity=intensity, pue=ctx.pue,
        notes=f"command: {shlex.join(command)}; exit code {returncode}; "
        f"child CPU {child_cpu_s:.3f} s (getrusage RUSAGE_CHILDREN delta){note}",
    )  # fmt: skip
    _print_measurement(record, m, child_cpu_s, returncode, ctx.ledger)
    return returncode if returncode >= 0 else 128 - returncode


def _intensity_for_run(carbon: Any, default: Any, start_unix_s: float) -> tuple[Any, str]:
    """An hourly series gives the hour the run started in when it covers it; else ``default``."""
    import datetime as dt

    from core.carbon import HourlySeries
    from core.errors import DataError

    if not isinstance(carbon, HourlySeries):
        return default, ""
    start = dt.datetime.fromtimestamp(start_unix_s, dt.UTC)
    try:
        return carbon.intensity(start), ""
    except DataError:
        return default, (f"; hourly series does not cover {start:%Y-%m-%d %H:%M} UTC, "
                         f"so its {default.year} mean was used")  # fmt: skip


def _print_measurement(record: Any, m: Any, child_cpu_s: float, returncode: int, ledger: Any) -> None:
    from rich.table import Table

    table = Table(title=f"greenstack measure: {record.notes.split(';')[0]}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    _add_row(table, "exit code", str(returncode))
    _add_row(table, "wall time", f"{m.wall_s:.3f} s")
    _add_row(table, "CPU time", f"{m.cpu_s:.3f} s (child via RUSAGE_CHILDREN: {child_cpu_s:.3f} s)")
    _add_row(table, "energy", f"{m.energy_j:.2f} J = {m.energy_kwh:.3e} kWh  [method {m.method}, "
                  f"scope {m.scope}, ±{m.uncertainty_rel:.0%}]")  # fmt: skip
    for comp in m.components:
        _add_row(table, f"  {comp.name}", f"{comp.energy_j:.2f} J [{comp.method}] {comp.source}")
    _add_row(table, "intensity", f"{record.g_per_kwh:.1f} g/kWh {record.intensity_gas} "
                  f"{record.intensity_scope} {record.intensity_kind} for {record.zone} "
                  f"[{record.intensity_method}]")  # fmt: skip
    _add_row(table, "  source", f"{record.intensity_source}, {record.intensity_year}")
    _add_row(table, "PUE", f"{record.pue:g}")
    _add_row(table, "emissions", f"{record.co2e_kg * 1000:.4g} gCO2e = {record.co2e_kg:.3e} kgCO2e")
    for note in m.notes:
        _add_row(table, "note", note)
    for extra in record.notes.split("; ")[2:]:  # after "command: …" and "exit code …"
        _add_row(table, "note", extra)
    _add_row(table, "ledger", f"record {record.record_id} (app {record.app}, run {record.run_id}) in {ledger!r}")
    _console().print(table)


def cmd_ledger(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """Print ledger records as a table, CSV (CodeCarbon-compatible columns) or JSON."""
    import csv
    import json

    from core.ledger.export import (
        CODECARBON_COLUMNS,
        GREENSTACK_COLUMNS,
        SAVING_COLUMNS,
        footprint_row,
    )

    ledger = _open_ledger(args)
    footprints, savings = ledger.footprints(app=args.app), ledger.savings(app=args.app)
    if args.format == "json":
        doc = {"footprints": [f.to_dict() for f in footprints], "savings": [s.to_dict() for s in savings]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif args.format == "csv" and args.table == "footprints":
        writer = csv.DictWriter(sys.stdout, fieldnames=CODECARBON_COLUMNS + GREENSTACK_COLUMNS,
                                extrasaction="ignore")  # fmt: skip
        writer.writeheader()
        writer.writerows(footprint_row(f) for f in footprints)
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=SAVING_COLUMNS)
        writer.writeheader()
        writer.writerows({c: getattr(s, c) for c in SAVING_COLUMNS} for s in savings)
    else:
        _print_ledger_tables(footprints, savings, ledger)
    return 0


def _print_ledger_tables(footprints: list[Any], savings: list[Any], ledger: Any) -> None:
    import datetime as dt

    from rich.table import Table

    console = _console()
    if not footprints and not savings:
        console.print(f"{ledger!r} is empty; record something with `greenstack measure -- CMD` "
                      "or `greenstack run all`")  # fmt: skip
        return
    fp = Table(title=f"footprints ({len(footprints)}); sources: --format json")
    for col in ("when (UTC)", "app", "phase", "wall s", "energy J", "method", "zone", "g/kWh",
                "gCO2e"):
        fp.add_column(col)
    for f in footprints:
        when = dt.datetime.fromtimestamp(f.start_unix_s, dt.UTC).strftime("%m-%d %H:%M")
        _add_row(fp, when, f.app, f.phase, f"{f.wall_s:.1f}", f"{f.energy_j:.3g}", f.method,
                 f"{f.zone} ({f.intensity_year})", f"{f.g_per_kwh:.0f}",
                 f"{f.co2e_kg * 1000:.3g}")  # fmt: skip
    console.print(fp)
    if savings:
        sv = Table(title=f"savings ({len(savings)})")
        for col in ("app", "run", "kind", "kgCO2e low", "central", "high", "baseline", "method"):
            sv.add_column(col)
        for s in savings:
            _add_row(sv, s.app, s.run_id, s.kind, f"{s.co2e_kg_low:.4g}", f"{s.co2e_kg:.4g}",
                       f"{s.co2e_kg_high:.4g}", s.baseline, s.method)  # fmt: skip
        console.print(sv)


def cmd_zones(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """List the annual table's zones with value, scope, year and source."""
    from rich.table import Table

    from core.carbon import zones

    needle = (args.search or "").lower()
    rows = [z for z in zones() if needle in z.zone.lower() or needle in z.name.lower()]
    table = Table(title=f"grid zones ({len(rows)}): annual average intensity")
    for col in ("zone", "name", "g/kWh", "gas", "scope", "year", "source"):
        table.add_column(col)
    for z in rows:
        i = z.intensity
        _add_row(table, z.zone, z.name, f"{i.g_per_kwh:.0f}", i.gas, i.scope, str(i.year), i.source)
    _console().print(table)
    print("Hourly 2022 series for US-BPAT/CISO/ERCO/MISO/NYIS/PJM: --grid-csv data/grid/<BA>_NG_avgCI_2022.csv.gz")
    return 0


def cmd_report(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """ImpactReport per app (and overall) as a table or JSON."""
    import json

    from core.impact import ImpactReport

    ledger = _open_ledger(args)
    apps = [args.app] if args.app else ledger.apps()
    reports = [ImpactReport.from_ledger(ledger, app=a) for a in apps]
    if not args.app and len(apps) > 1:
        reports.append(ImpactReport.from_ledger(ledger, app=None))
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_dict() for r in reports], indent=2) + "\n")
        return 0
    if not reports:
        print(f"{ledger!r} is empty; run `greenstack run all` or `greenstack measure -- CMD` first")
        return 0
    _print_reports(reports)
    return 0


def _print_reports(reports: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="impact (kgCO2e; ranges low–high; net = savings − footprint)")
    for col in ("app", "footprint kWh", "footprint kg", "savings kg", "monitoring kg", "net kg",
                "payback", "SCI (operational)"):
        table.add_column(col)
    for r in reports:
        payback = "—" if r.payback_days is None else f"{r.payback_days:.1f} d"
        sci = "; ".join(f"{s.phase}: {s.co2e_g_per_unit:.3g} g/{s.unit}" for s in r.sci) or "—"
        _add_row(table,
            r.app or "ALL", f"{r.footprint_kwh:.4g}",
            f"{r.footprint_kg:.4g} ({r.footprint_kg_low:.3g}–{r.footprint_kg_high:.3g})",
            f"{r.savings.co2e_kg:.4g} ({r.savings.co2e_kg_low:.3g}–{r.savings.co2e_kg_high:.3g})",
            f"{r.monitoring.co2e_kg:.4g}",
            f"{r.net_kg:.4g} ({r.net_kg_low:.3g}–{r.net_kg_high:.3g})",
            payback, sci,
        )  # fmt: skip
    _console().print(table)
    for r in reports:
        print(f"{r.app or 'ALL'}: payback {r.payback_note}; intensity: {'; '.join(r.intensity_sources)}")
        if r.savings.superseded:  # the savings column left these out; say so next to it
            print(f"{r.app or 'ALL'}: savings: {r.savings_note}")
        if r.monitoring.superseded:
            print(f"{r.app or 'ALL'}: monitoring: {r.monitoring.records} records counted; "
                  f"{r.monitoring.superseded} older accountings of the same area superseded")


def cmd_run_all(args: argparse.Namespace, ctx_factory: CtxFactory) -> int:
    """Run every registered app with its defaults, in suite order; errors are reported, not fatal."""
    from core.errors import GreenstackError

    if not args._apps:
        print("no app registers `greenstack run <app>` yet", file=sys.stderr)
        return 2
    worst = 0
    for app in args._apps:
        app_args = args._root.parse_args(["run", app])
        print(f"== greenstack run {app}")
        try:
            worst = max(worst, int(app_args.func(app_args, ctx_factory) or 0))
        except GreenstackError as e:
            print(f"error in {app}: {e}", file=sys.stderr)
            worst = max(worst, 2)
    return worst


# -- entry point ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``greenstack``. GreenstackError → message on stderr, exit code 2."""
    args = build_parser().parse_args(argv)
    from core.errors import GreenstackError

    try:
        return int(args.func(args, context_factory(args)) or 0)
    except GreenstackError as e:
        print(f"greenstack: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("greenstack: interrupted", file=sys.stderr)
        return 130
