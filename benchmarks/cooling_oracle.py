"""How far below naive can any controller take CO2 in the cooling simulator? Perfect-foresight
bounds side by side with naive and the tuned carbon_rule, per held-out pair and over the pairs.

- With a tank (``--storage``, default 200 kWh thermal, ``--split`` default desert-held-out): the
  tank dispatch LP of :mod:`apps.cooling.oracle` under two setpoint policies (the tuned
  carbon_rule's own setpoints, and the same rule with its pre-cooling off: comfort edge and
  setback only), replayed through the env with the tank; "oracle" is the lower of the two.
  carbon_rule uses the parameters stored in the card trained with that tank, as
  ``CoolingService.carbon_rule`` reads them.
- Without a tank (``--rule-split``, default "default"): the in-sample schedule-rule bound of
  :mod:`apps.cooling.rule_bound` (office only).

Every number is simulated; the oracle has perfect foresight (an upper bound, not a controller).
The mean row is the pairs' mean CO2 against naive's mean (as the evaluation's targets are).
Run from the repository root: ``python benchmarks/cooling_oracle.py [--json]``.
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
from apps.cooling.env import CoolingEnv
from apps.cooling.kpis import rollout
from apps.cooling.oracle import run_oracle
from apps.cooling.rule_bound import mean_pct, rule_bound
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


def storage_rows(building: str, storage_kwh: float, split: str,
                 days: int | None) -> tuple[list[dict[str, Any]], str]:
    rule, card = card_rule(building, storage_kwh, split)
    envelope = ENVELOPES[building]
    policies = {"rule_setpoints": rule, "edge_setpoints": dataclasses.replace(
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
        for name, params in policies.items():
            res = run_oracle(spec, CarbonRuleController(envelope, params), storage_kwh, days=days)
            row[name] = {"co2_kg_per_m2": res.kpis.co2_kg_per_m2,
                         "lp_co2_kg_per_m2": res.lp_co2_kg_per_m2,
                         "idle_tank_co2_kg_per_m2": res.idle_tank_kpis.co2_kg_per_m2,
                         "no_tank_co2_kg_per_m2": res.no_tank_kpis.co2_kg_per_m2,
                         "discomfort_kh": res.kpis.discomfort_kh,
                         "dr_within_limit_share": res.kpis.dr_within_limit_share,
                         "dr_shortfall_kwh_th": res.dispatch.dr_shortfall_kwh_th,
                         "lp_solve_s": res.dispatch.solve_s}
        best = min(policies, key=lambda n: row[n]["co2_kg_per_m2"])
        row["oracle"], row["oracle_policy"] = row[best]["co2_kg_per_m2"], best
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows, card


def print_storage(rows: list[dict[str, Any]], header: str) -> None:
    print(header)
    print(f"{'pair':28s} {'naive':>7s} {'carbon_rule':>17s} {'oracle':>17s} {'LP':>8s} "
          f"{'pts':>5s}  policy")
    for r in rows:
        o = r[r["oracle_policy"]]
        print(f"{r['pair']:28s} {r['naive']:7.3f} {r['carbon_rule']:7.3f} ({pct(r['carbon_rule'], r['naive']):+6.1f} %)"
              f" {r['oracle']:7.3f} ({pct(r['oracle'], r['naive']):+6.1f} %) {o['lp_co2_kg_per_m2']:8.4f}"
              f" {pct(r['carbon_rule'], r['naive']) - pct(r['oracle'], r['naive']):5.1f}  {r['oracle_policy']}")
    m = {k: float(np.mean([r[k] for r in rows])) for k in ("naive", "carbon_rule", "oracle")}
    c, o = pct(m["carbon_rule"], m["naive"]), pct(m["oracle"], m["naive"])
    print(f"{'mean over pairs':28s} {m['naive']:7.3f} {m['carbon_rule']:7.3f} ({c:+6.1f} %)"
          f" {m['oracle']:7.3f} ({o:+6.1f} %) {'':8s} {c - o:5.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--storage", type=float, default=200.0, help="tank, kWh thermal")
    ap.add_argument("--split", default="desert-held-out", help="held-out pairs with the tank")
    ap.add_argument("--rule-split", default="default", help="held-out pairs without a tank")
    ap.add_argument("--building", default="office", choices=sorted(ENVELOPES))
    ap.add_argument("--days", type=int, default=None, help="from 1 June (default: to 30 Sep)")
    ap.add_argument("--no-rule-bound", action="store_true", help="skip the no-tank rule search")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows, card = storage_rows(a.building, a.storage, a.split, a.days)
    out: dict[str, Any] = {"label": LABEL, "unit": "kg CO2 per m2 of floor, 1 Jun-30 Sep",
                           "storage_kwh_th": a.storage, "split": a.split, "building": a.building,
                           "carbon_rule_card": card, "storage": rows}
    if a.building == "office" and not a.no_rule_bound:
        bounds = [rule_bound(s, days=a.days) for s in held_out_specs("office", split=a.rule_split)]
        out["no_storage_rule_bound"] = {"split": a.rule_split, "pairs": [b.to_dict() for b in bounds],
                                        "mean_co2_vs_naive_pct": mean_pct(bounds)}
    out["seconds"] = time.perf_counter() - t0
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print_storage(rows, f"{a.building}, {a.storage:g} kWh tank, {a.split} held-out pairs, kg CO2/m2 "
                        f"({LABEL}); carbon_rule from {card}; pts = carbon_rule % - oracle %")
    if "no_storage_rule_bound" in out:
        nb = out["no_storage_rule_bound"]
        print(f"\nno tank, {a.rule_split} held-out pairs: best of {nb['pairs'][0]['candidates']} "
              "schedule rules tuned on each pair itself (simulated; in-sample, an upper bound for rules)")
        for b in nb["pairs"]:
            print(f"{b['pair']:28s} naive {b['naive_co2_kg_per_m2']:7.3f}  best rule "
                  f"{b['co2_kg_per_m2']:7.3f} ({b['co2_vs_naive_pct']:+6.1f} %)  discomfort "
                  f"{b['discomfort_kh']:.2f} K h  {b['params']}")
        print(f"{'mean over pairs':28s} {nb['mean_co2_vs_naive_pct']:+6.1f} %")
    print(f"\n{out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
