"""Console output of the deforestation commands (rich tables). CLI-only: prints."""

from __future__ import annotations

from typing import Any


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
