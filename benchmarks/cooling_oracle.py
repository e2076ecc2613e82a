"""How far below naive can any controller take CO2 in the cooling simulator? Perfect-foresight
numbers side by side with naive and the tuned carbon_rule, per held-out pair and over the pairs.

- With a tank (``--storage``, default 200 kWh thermal, ``--split`` default desert-held-out):
  "oracle" is the tank-dispatch LP of :mod:`apps.cooling.oracle` replayed through the env with
  the tank, under the best of three setpoint policies (the tuned carbon_rule's setpoints, the
  same rule with its pre-cooling off, and the hourly schedule of the LP relaxation), each within
  naive's discomfort + 0.5 K h: a schedule a controller with perfect foresight reaches. "bound"
  is the LP relaxation of :mod:`apps.cooling.oracle_bound` (office): no controller of setpoint
  and tank reaches less CO2 at that discomfort. carbon_rule uses the parameters stored in the
  card trained with that tank, as ``CoolingService.carbon_rule`` reads them.
- Without a tank (``--rule-split``, default "default", office): the in-sample best schedule
  rule of :mod:`apps.cooling.rule_bound`, the relaxation's hourly schedule replayed, and the
  relaxation's bound.

Every number is simulated with perfect foresight (an upper bound, not a controller). The mean
row is the pairs' mean CO2 against naive's mean (as the evaluation's targets are).
Run from the repository root: ``python benchmarks/cooling_oracle.py [--json]`` (about 10 min).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from apps.cooling.baselines import CarbonRuleController, CarbonRuleParams, NaiveController
from apps.cooling.card import carbon_rule_params, card_path_for
from apps.cooling.env import SEASON_FIRST_DAY, CoolingEnv
from apps.cooling.kpis import rollout
from apps.cooling.oracle import run_oracle
from apps.cooling.oracle_bound import HourlySetpoints, co2_bound, hourly_setpoints
from apps.cooling.rule_bound import DISCOMFORT_ALLOWANCE_KH, rule_bound
from apps.cooling.safety import ENVELOPES
from apps.cooling.scenario import held_out_specs

MODELS = Path(__file__).resolve().parents[1] / "models" / "cooling"
LABEL = "simulated; perfect foresight (an upper bound, not a controller)"


def card_rule(building: str, storage_kwh: float, split: str) -> tuple[CarbonRuleParams, str]:
    """The carbon rule stored in the card trained with that tank (that split, else default)."""
    for s in (split, "default"):
        path = card_path_for(MODELS, building, storage_kwh, s)
        if path.is_file() and (rule := carbon_rule_params(path, storage_kwh)) is not None:
            return rule, path.name
    raise SystemExit(f"no card with carbon_rule parameters for {building} with a {storage_kwh} kWh "
                     f"tank in {MODELS}; run `greenstack run cooling --storage {storage_kwh:g}` first")


def pct(x: float, ref: float) -> float:
    return 100.0 * (x / ref - 1.0)


def bound_row(spec: Any, discomfort_kh: float, storage_kwh: float,
              days: int | None) -> tuple[dict[str, Any], Any]:
    """The relaxation's bound on one pair and its hourly schedule as a setpoint policy."""
    b = co2_bound(spec, discomfort_kh, storage_kwh, days=days)
    policy = HourlySetpoints(hourly_setpoints(b, 4), SEASON_FIRST_DAY * 24, ENVELOPES["office"])
    return {"co2_kg_per_m2": b.co2_kg_per_m2, "discomfort_kh": b.discomfort_kh,
            "peak_load_share": b.peak_load_share, "solve_s": b.solve_s}, policy


def storage_rows(building: str, storage_kwh: float, split: str, days: int | None,
                 with_bound: bool) -> tuple[list[dict[str, Any]], str]:
    rule, card = card_rule(building, storage_kwh, split)
    envelope = ENVELOPES[building]
    policies: dict[str, Any] = {"rule_setpoints": rule, "edge_setpoints": dataclasses.replace(
        rule, precool_c=rule.edge_c)}
    specs = held_out_specs(building, split=split)
    env = CoolingEnv(specs, building=building, random_start=False, storage_kwh=storage_kwh)
    rows = []
    for i, spec in enumerate(specs):
        t0 = time.perf_counter()
        naive, _ = rollout(env, NaiveController(envelope), scenario=i, days=days)
        cr, _ = rollout(env, CarbonRuleController(envelope, rule), scenario=i, days=days)
        row: dict[str, Any] = {"pair": spec.label, "naive": naive.co2_kg_per_m2,
                               "carbon_rule": cr.co2_kg_per_m2,
                               "carbon_rule_discomfort_kh": cr.discomfort_kh}
        controllers = {n: CarbonRuleController(envelope, p) for n, p in policies.items()}
        if with_bound and building == "office":
            row["bound"], controllers["lp_schedule_setpoints"] = bound_row(
                spec, naive.discomfort_kh + DISCOMFORT_ALLOWANCE_KH, storage_kwh, days)
        for name, ctrl in controllers.items():
            res = run_oracle(spec, ctrl, storage_kwh, days=days)
            row[name] = {"co2_kg_per_m2": res.kpis.co2_kg_per_m2,
                         "lp_co2_kg_per_m2": res.lp_co2_kg_per_m2,
                         "idle_tank_co2_kg_per_m2": res.idle_tank_kpis.co2_kg_per_m2,
                         "no_tank_co2_kg_per_m2": res.no_tank_kpis.co2_kg_per_m2,
                         "discomfort_kh": res.kpis.discomfort_kh,
                         "dr_within_limit_share": res.kpis.dr_within_limit_share,
                         "dr_shortfall_kwh_th": res.dispatch.dr_shortfall_kwh_th,
                         "lp_solve_s": res.dispatch.solve_s}
        allowed = naive.discomfort_kh + DISCOMFORT_ALLOWANCE_KH
        best = min((n for n in controllers if row[n]["discomfort_kh"] <= allowed),
                   key=lambda n: row[n]["co2_kg_per_m2"])
        row["oracle"], row["oracle_policy"] = row[best]["co2_kg_per_m2"], best
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows, card


def no_storage_rows(split: str, days: int | None, with_bound: bool) -> list[dict[str, Any]]:
    """Per pair without a tank: naive, the in-sample best schedule rule, the relaxation's
    bound and its hourly schedule replayed through the env."""
    rows = []
    for spec in held_out_specs("office", split=split):
        rb = rule_bound(spec, days=days)
        row: dict[str, Any] = {"pair": spec.label, "naive": rb.naive.co2_kg_per_m2,
                               "best_rule": rb.to_dict()}
        if with_bound:
            row["bound"], policy = bound_row(
                spec, rb.naive.discomfort_kh + DISCOMFORT_ALLOWANCE_KH, 0.0, days)
            env = CoolingEnv((spec,), random_start=False)
            k, _ = rollout(env, policy, days=days)
            row["lp_schedule"] = {"co2_kg_per_m2": k.co2_kg_per_m2, "discomfort_kh": k.discomfort_kh}
        rows.append(row)
    return rows


def _mean_pct(rows: list[dict[str, Any]], get: Any) -> float:
    """The pairs' mean CO2 against naive's mean (as the evaluation's targets are), %."""
    return pct(float(np.mean([get(r) for r in rows])), float(np.mean([r["naive"] for r in rows])))


def print_storage(rows: list[dict[str, Any]], header: str) -> None:
    print(header)
    print(f"{'pair':26s} {'naive':>6s} {'carbon_rule':>16s} {'oracle':>16s} {'oracle LP':>9s} "
          f"{'bound':>16s} {'pts':>5s} {'pts<=':>5s}  oracle setpoints")
    has_bound = all("bound" in r for r in rows)

    def vs(x: float, n: float) -> str:
        return f"{x:6.3f} ({pct(x, n):+6.1f} %)"

    for r in rows:
        o, n, c = r[r["oracle_policy"]], r["naive"], r["carbon_rule"]
        b = r["bound"]["co2_kg_per_m2"] if has_bound else None
        print(f"{r['pair']:26s} {n:6.3f} {vs(c, n)} {vs(r['oracle'], n)} {o['lp_co2_kg_per_m2']:9.4f}"
              f" {vs(b, n) if b is not None else 'n/a':>16s} {pct(c, n) - pct(r['oracle'], n):5.1f}"
              f" {f'{pct(c, n) - pct(b, n):5.1f}' if b is not None else 'n/a':>5s}  {r['oracle_policy']}")
    c, o = _mean_pct(rows, lambda r: r["carbon_rule"]), _mean_pct(rows, lambda r: r["oracle"])
    b = _mean_pct(rows, lambda r: r["bound"]["co2_kg_per_m2"]) if has_bound else None
    print(f"{'mean over pairs':26s} {'':6s} {'':6s} ({c:+6.1f} %) {'':6s} ({o:+6.1f} %) {'':9s}"
          f" {f'({b:+6.1f} %)' if b is not None else 'n/a':>16s} {c - o:5.1f}"
          f" {f'{c - b:5.1f}' if b is not None else 'n/a':>5s}")


def print_no_storage(rows: list[dict[str, Any]], split: str) -> None:
    print(f"\nno tank, {split} held-out pairs, kg CO2/m2 ({LABEL}); best rule: the least-CO2 of "
          f"{rows[0]['best_rule']['candidates']} schedule rules searched on each pair itself")
    print(f"{'pair':26s} {'naive':>6s} {'best rule':>16s} {'LP schedule':>16s} {'bound':>16s}")
    for r in rows:
        n, br = r["naive"], r["best_rule"]["co2_kg_per_m2"]
        lp = r.get("lp_schedule", {}).get("co2_kg_per_m2", float("nan"))
        b = r.get("bound", {}).get("co2_kg_per_m2", float("nan"))
        print(f"{r['pair']:26s} {n:6.3f} {br:6.3f} ({pct(br, n):+6.1f} %) {lp:6.3f} "
              f"({pct(lp, n):+6.1f} %) {b:6.3f} ({pct(b, n):+6.1f} %)")
    if all("bound" in r for r in rows):
        print(f"{'mean over pairs':26s} {'':6s} {'':6s} "
              f"({_mean_pct(rows, lambda r: r['best_rule']['co2_kg_per_m2']):+6.1f} %) {'':6s} "
              f"({_mean_pct(rows, lambda r: r['lp_schedule']['co2_kg_per_m2']):+6.1f} %) {'':6s} "
              f"({_mean_pct(rows, lambda r: r['bound']['co2_kg_per_m2']):+6.1f} %)")
    for r in rows:
        print(f"  {r['pair']}: best rule {r['best_rule']['params']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--storage", type=float, default=200.0, help="tank, kWh thermal")
    ap.add_argument("--split", default="desert-held-out", help="held-out pairs with the tank")
    ap.add_argument("--rule-split", default="default", help="held-out pairs without a tank")
    ap.add_argument("--building", default="office", choices=sorted(ENVELOPES))
    ap.add_argument("--days", type=int, default=None, help="from 1 June (default: to 30 Sep)")
    ap.add_argument("--no-bound", action="store_true", help="skip the LP relaxation (office)")
    ap.add_argument("--no-rule-bound", action="store_true", help="skip the no-tank section")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows, card = storage_rows(a.building, a.storage, a.split, a.days, not a.no_bound)
    out: dict[str, Any] = {"label": LABEL, "unit": "kg CO2 per m2 of floor, 1 Jun-30 Sep",
                           "storage_kwh_th": a.storage, "split": a.split, "building": a.building,
                           "carbon_rule_card": card, "storage": rows}
    if a.building == "office" and not a.no_rule_bound:
        out["no_storage"] = {"split": a.rule_split,
                             "pairs": no_storage_rows(a.rule_split, a.days, not a.no_bound)}
    out["seconds"] = time.perf_counter() - t0
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print_storage(rows, f"{a.building}, {a.storage:g} kWh tank, {a.split} held-out pairs, kg CO2/m2 "
                        f"({LABEL}); carbon_rule from {card}; oracle: tank LP replayed in the env; "
                        "bound: LP relaxation; pts = carbon_rule % - oracle % (pts<=: - bound %)")
    if "no_storage" in out:
        print_no_storage(out["no_storage"]["pairs"], a.rule_split)
    print(f"\n{out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
