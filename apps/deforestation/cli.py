"""`greenstack run deforestation` and `greenstack tiles run|account`.

Import stays light (argparse only); torch, rasterio and dask load when a command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apps.progress import progress_bar


def register(run_parsers: Any, top_parsers: Any) -> None:
    """Add ``run deforestation`` and the top-level ``tiles`` command."""
    p = run_parsers.add_parser(
        "deforestation", help="forest loss: train teacher, distil student, gate, batch, CO2",
        description="real labelled chips + simulated scenes → teacher U-Net/ResNet-18 → distilled student → "
                    "gate → Dask batch over the shipped real Sentinel-2 pair → hectares and CO2; "
                    "finished training runs are reused (--force to recompute)")
    p.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--budget", choices=("full", "demo"), default="full",
                   help="training budget (docs/deforestation.md states each one's wall time); "
                        "`make demo` uses demo")
    p.set_defaults(func=cmd_run)

    tiles = top_parsers.add_parser("tiles", help="batch loss mapping and hectares/CO2 accounting")
    sub = tiles.add_subparsers(dest="tiles_cmd", metavar="CMD", required=True)
    r = sub.add_parser("run", help="map forest loss between two co-registered rasters on Dask")
    r.add_argument("--before", type=Path, required=True, help="raster file or per-band folder")
    r.add_argument("--after", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True, help="job folder (rerun to resume)")
    r.add_argument("--sensor", default="sentinel2_l1c",
                   help="band map: sentinel2_l1c, sentinel2_l2a, landsat8, landsat8_bgr, rgb8")
    r.add_argument("--model", default="served", choices=["served", "student", "teacher"])
    r.add_argument("--scheduler", default=None, help="tcp://host:8786 of an existing cluster")
    r.add_argument("--workers", type=int, default=1, help="LocalCluster workers (no --scheduler)")
    r.add_argument("--tile-px", type=int, default=256)
    r.add_argument("--overlap-px", type=int, default=32)
    r.add_argument("--mmu-ha", type=float, default=0.5, help="minimum mapping unit (ha)")
    r.add_argument("--before-date", default=None, help="acquisition date YYYY-MM-DD of --before "
                   "(default: as the product states it, else unknown)")
    r.add_argument("--after-date", default=None, help="acquisition date YYYY-MM-DD of --after")
    r.add_argument("--deadline", default=None,
                   help="ISO time (UTC) by which the job must end; starts in the lowest-carbon "
                        "window of --grid-csv (core.carbon.best_start_window)")
    r.add_argument("--job-hours", type=float, default=1.0, help="expected length for --deadline")
    r.add_argument("--power-kw", type=float, default=0.05, help="expected draw for --deadline")
    r.add_argument("--no-wait", action="store_true",
                   help="with --deadline: report the window but run now (no avoided emissions)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_tiles_run)
    _register_classify(sub)
    a = sub.add_parser("account", help="hectares and CO2 of an existing loss or label map")
    a.add_argument("map", type=Path)
    a.add_argument("--loss-values", required=True, help="comma-separated loss codes, e.g. 0 or "
                   "11,16,17 (PRODES) or 1 (this app's lossmap.tif)")
    a.add_argument("--biomass", type=Path, default=None, help="AGB raster in Mg/ha")
    a.add_argument("--continent", default="americas",
                   help="IPCC default biomass: africa, americas, asia_continental, asia_insular")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_tiles_account)


def _register_classify(sub: Any) -> None:
    c = sub.add_parser(
        "classify", help="forest / non-forest / cloud map of one date, per input raster",
        description="writes OUT_DIR/<stem>.classes.tif per input (uint8 on the input's grid and "
                    "CRS: 0 non-forest, 1 forest, 2 cloud, 255 unknown/nodata); an unreadable "
                    "input is reported and the others are still written (exit code 1)")
    c.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                   help="raster file or per-band folder")
    c.add_argument("--sensor", required=True,
                   help="band map: sentinel2_l1c, sentinel2_l2a, landsat8, landsat8_bgr, rgb8")
    c.add_argument("--out-dir", type=Path, required=True)
    c.add_argument("--model", default="served", choices=["served", "student", "teacher"])
    c.add_argument("--tile-px", type=int, default=256)
    c.add_argument("--overlap-px", type=int, default=32)
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=cmd_tiles_classify)


def _service(ctx_factory: Callable[[], Any]) -> Any:
    from apps.deforestation.service import DeforestationService

    return DeforestationService(ctx_factory())


def cmd_run(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """The whole pipeline; prints gate table, hectares, CO2 range and footprint."""
    svc = _service(ctx_factory)
    if args.json:
        print(json.dumps(svc.run_pipeline(budget=args.budget).to_dict(), indent=1, default=str))
        return 0
    bar, update = progress_bar()
    with bar:
        summary = svc.run_pipeline(progress=update, budget=args.budget)
    print_summary(summary.to_dict())
    return 0


def _parse_deadline(text: str) -> datetime:
    from core.errors import ConfigError

    try:
        dt = datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"--deadline {text!r} is not ISO 8601 (e.g. 2026-11-26T06:00Z)") from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _parse_date(text: str | None, flag: str) -> str | None:
    from datetime import date

    from core.errors import ConfigError

    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as e:
        raise ConfigError(f"{flag} {text!r} is not a date; use YYYY-MM-DD") from e


def cmd_tiles_run(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Batch job; with --scheduler the same code runs on an existing Dask cluster."""
    dates = (_parse_date(args.before_date, "--before-date"),
             _parse_date(args.after_date, "--after-date"))
    svc = _service(ctx_factory)
    before = svc.open_source(args.before, args.sensor)
    after = svc.open_source(args.after, args.sensor)
    schedule = None
    if args.deadline:
        schedule = svc.wait_for_window(_parse_deadline(args.deadline), args.job_hours,
                                       args.power_kw, wait=not args.no_wait)
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    bar, update = progress_bar()
    try:
        with bar:
            result = svc.run_tiles(before, after, args.out, model=args.model, client=client,
                                   progress=None if args.json else update, tile_px=args.tile_px,
                                   overlap_px=args.overlap_px, mmu_ha=args.mmu_ha,
                                   n_workers=args.workers, before_date=dates[0],
                                   after_date=dates[1])
    finally:
        if client is not None:
            client.close()
    out = result.to_dict()
    acct = svc.book_job_loss(f"tiles-{Path(args.out).name}", result, str(args.out))
    if acct is not None:
        out["account"] = acct.to_dict()
    out["schedule"] = schedule
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        print_job(out)
    return 1 if result.failed else 0


def cmd_tiles_classify(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Class map per input; exit code 1 if any input failed (the others are written)."""
    report = _service(ctx_factory).classify(args.images, args.sensor, args.out_dir,
                                            model=args.model, tile_px=args.tile_px,
                                            overlap_px=args.overlap_px)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print_classify(report.to_dict())
    return 1 if report.failed else 0


def cmd_tiles_account(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Hectares and CO2 of any loss/label map (no context or ledger needed)."""
    from apps.deforestation.service import DeforestationService
    from core.errors import ConfigError

    try:
        values = [float(v) for v in args.loss_values.split(",") if v.strip()]
    except ValueError as e:
        raise ConfigError(f"--loss-values {args.loss_values!r}: give numbers like 0 or 11,16") from e
    acct = DeforestationService.account_map(args.map, values, args.biomass, args.continent)
    if args.json:
        print(json.dumps(acct.to_dict(), indent=1))
    else:
        print_account(acct.to_dict(), str(args.map))
    return 0


# -- console output (rich tables); CLI-only ----------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    return Console()


def print_account(a: dict[str, Any], title: str) -> None:
    """Hectares and CO2 with ranges and method."""
    c = _console()
    c.print(f"[bold]{title}[/bold]: loss {a['loss_ha']:.1f} ha ({a['loss_pixels']} px, geodesic)")
    c.print(f"  CO2 above-ground {a['co2_t_above_ground']:,.0f} t "
            f"({a['co2_t_above_ground_low']:,.0f} – {a['co2_t_above_ground_high']:,.0f})")
    c.print(f"  CO2 with roots   {a['co2_t_with_roots']:,.0f} t "
            f"({a['co2_t_with_roots_low']:,.0f} – {a['co2_t_with_roots_high']:,.0f})")
    c.print(f"  biomass: {a['ha_with_raster_biomass']:.1f} ha from raster, "
            f"{a['ha_with_default_biomass']:.1f} ha IPCC default")
    c.print(f"  method: {a['method']}")
    for name, f in a["factors"].items():
        c.print(f"  {name}: {f.get('value', '')} {f.get('source', f.get('path', ''))}")


def print_job(d: dict[str, Any]) -> None:
    """A batch job's outcome."""
    c = _console()
    c.print(f"tiles: {d['tiles_done']} computed, {d['tiles_skipped']} resumed, "
            f"{len(d['failed'])} failed of {d['tiles_total']} in {d['wall_s']:.1f} s")
    for f in d["failed"]:
        c.print(f"  [red]failed[/red] {f['tile']}: {f['error']}")
    if d.get("lossmap"):
        c.print(f"loss map (COG): {d['lossmap']}")
    if d.get("loss_geojson"):
        c.print(f"loss polygons: {d['loss_patches']} patches in {d['loss_geojson']} (EPSG:4326) "
                f"and {d['loss_gpkg']}")
    if d.get("account"):
        print_account(d["account"], "detected loss")
    if d.get("schedule"):
        c.print(f"carbon-aware start: {d['schedule']}")


def print_classify(d: dict[str, Any]) -> None:
    """Per-file class shares, the model and why, the energy; failures named on stderr."""
    import sys
    from pathlib import Path

    from rich.table import Table

    c = _console()
    written = [f for f in d["files"] if f["error"] is None]
    folder = Path(written[0]["output"]).parent if written else None
    where = f" in {folder}" if folder else ": none written"
    t = Table(title=f"classes per file ({d['sensor']}; shares of all pixels){where}")
    for col in ("output", "pixels", "non-forest", "forest", "cloud", "unknown"):
        t.add_column(col)
    for f in written:
        s = f["shares"]
        t.add_row(Path(f["output"]).name, f"{f['pixels']:,}", *(
            f"{100 * s[k]:.1f} %" for k in ("non_forest", "forest", "cloud", "unknown")))
    c.print(t)
    c.print(f"model: {d['model']} ({d['weights']}); {d['model_reason']}")
    e = d["energy"]
    c.print(f"energy: {e['energy_j']:.1f} J ({e['method']}, scope {e['scope']}, "
            f"±{100 * e['uncertainty_rel']:.0f} %) in {e['wall_s']:.1f} s")
    for f in d["files"]:
        if f["error"] is not None:
            named = f["error"] if f["input"] in f["error"] else f"{f['input']}: {f['error']}"
            print(f"failed: {named}", file=sys.stderr)


def print_summary(d: dict[str, Any]) -> None:
    """Gate table, hectares, CO2 range and footprint of ``greenstack run deforestation``."""
    from rich.table import Table

    c = _console()
    real = d.get("real_val") or {}
    if real:
        t = Table(title="REAL validation chips (amazon_forest, never trained on): points")
        for col in ("model", "slice", "chips", "mean per-chip accuracy", "forest F1", "IoU"):
            t.add_column(col)
        for who in ("teacher", "student"):
            for name, r in real[who].items():
                t.add_row(who, name, str(r["n_chips"]), f"{r['accuracy_points']:.2f}",
                          f"{r['forest_f1_points']:.2f}", f"{r['forest_iou_points']:.2f}")
        for ref in real["published"]:
            t.add_row(ref["model"], "15 other chips of the dataset", "15",
                      f"{ref['accuracy_points']:.1f}", "", "")
        c.print(t)
    t = Table(title="gate: student vs teacher on REAL validation chips (points)")
    for col in ("metric", "slice", "pixels", "teacher", "student", "drop", "allowed", "ok"):
        t.add_column(col)
    for r in d["gate_rows"]:
        t.add_row(r["metric"], r["slice"], str(r["n_pixels"]), f"{r['teacher']:.2f}",
                  f"{r['student']:.2f}", f"{r['drop']:+.2f}", str(r["allowed"]),
                  "yes" if r["passed"] else "NO")
    c.print(t)
    if d.get("sim_rows"):
        t = Table(title="reported, not gating: SIMULATED held-out pairs (pixel F1, points)")
        for col in ("metric", "slice", "teacher", "student", "drop"):
            t.add_column(col)
        for r in d["sim_rows"]:
            t.add_row(r["metric"], r["slice"], f"{r['teacher']:.2f}", f"{r['student']:.2f}",
                      f"{r['drop']:+.2f}")
        c.print(t)
    for chk in d["gate_checks"]:
        if chk["name"] in ("speedup", "size", "agreement_real_ood", "speedup_end_to_end"):
            c.print(f"  {chk['name']}: {'ok' if chk['passed'] else 'FAIL'} — {chk['detail']}")
    c.print(f"gate: [bold]{d['gate_verdict']}[/bold]; serving the {d['served_model']} "
            f"({d['served_reason']})")
    if d["detected"]:
        print_account(d["detected"], "detected loss on the real OSCD pair (app output)")
    for name, acct in d["official_maps"].items():
        print_account(acct, f"official map {name} (real)")
    f = d["footprint"]
    c.print(f"footprint: train {f['train_kwh']:.2e} kWh ({f['train_co2e_kg']:.2e} kg), distil "
            f"{f['distil_kwh']:.2e} kWh ({f['distil_co2e_kg']:.2e} kg), batch "
            f"{(f['batch_kwh'] or 0):.2e} kWh, {(f['batch_j_per_tile'] or 0):.1f} J/tile; "
            f"method {f['method']}, reused {f['reused']}; intensity {f['intensity']['g_per_kwh']}"
            f" g/kWh ({f['intensity']['zone']}, {f['intensity']['source']})")
    c.print("monitoring: the CO2 above is emissions represented by detected loss, not a saving")
