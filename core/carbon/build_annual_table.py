"""Rebuild the shipped ``annual_intensity.csv`` from its sources (run by a maintainer, not at run time).

    .venv/bin/python -m core.carbon.build_annual_table   # needs the `bench` extra (codecarbon)

Sources, each kept with its own scope (never mixed silently):
- countries: Our World in Data energy dataset (electricity carbon intensity, from Ember and the
  Energy Institute), as packaged in the MIT-licensed codecarbon wheel (``global_energy_mix.json``).
  Lifecycle gCO2e/kWh, production-based average.
- US balancing authorities: 2022 mean of the hourly ``avg_CI`` in ``data/grid/`` (EIA-930 derived,
  HewlettPackard/dc-rl, MIT). Lifecycle gCO2e/kWh: the values equal the fuel mix times the IPCC AR5
  median lifecycle factors (checked to 1e-9 g/kWh in ``hourly._verify_lifecycle``).
- US states: EPA eGRID2023 total output emission rate (STC2ERTA, lb CO2e/MWh), via codecarbon.
  Direct (combustion) CO2e.
- Chinese provinces: MEE/NBS 2023 provincial average electricity CO2 factors, via codecarbon.
  Direct CO2 only.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

from core.carbon.hourly import BA_NAMES, HourlySeries

LB_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh
TABLE_PATH = Path(__file__).with_name("annual_intensity.csv")
COLUMNS = ("zone", "g_per_kwh", "source", "year", "scope", "gas", "kind", "name")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _codecarbon_data() -> Path:
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or spec.origin is None:
        raise SystemExit("codecarbon is not installed: pip install -e '.[bench]'")
    return Path(spec.origin).parent / "data" / "private_infra"


def _codecarbon_version() -> str:
    from importlib.metadata import version

    return version("codecarbon")


def country_rows(data: Path, cc_version: str) -> list[dict[str, object]]:
    import pycountry  # codecarbon dependency; build-time only

    mix = json.loads((data / "global_energy_mix.json").read_text())
    rows: list[dict[str, object]] = []
    for iso3, rec in sorted(mix.items()):
        country = pycountry.countries.get(alpha_3=iso3)
        if country is None or not rec.get("carbon_intensity"):
            continue  # no ISO alpha-2 code or no intensity published (e.g. CAF)
        rows.append(
            {
                "zone": country.alpha_2,
                "g_per_kwh": round(float(rec["carbon_intensity"]), 3),
                "source": f"Our World in Data energy dataset (Ember/Energy Institute) "
                f"via codecarbon {cc_version} global_energy_mix.json (MIT)",
                "year": int(rec["year"]),
                "scope": "lifecycle",
                "gas": "CO2e",
                "kind": "average",
                "name": rec.get("country_name", country.name),
            }
        )
    return rows


def ba_rows(grid_dir: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for path in sorted(grid_dir.glob("*_NG_avgCI_*.csv.gz")):
        series = HourlySeries.from_csv(path)
        annual = series.observed_mean()
        rows.append(
            {
                "zone": series.zone,
                "g_per_kwh": round(annual, 3),
                "source": "EIA-930 hourly grid monitor (US EIA) via HewlettPackard/dc-rl avg_CI "
                f"(MIT); unweighted mean of {series.observed_hours} observed hours",
                "year": series.year,
                "scope": "lifecycle",
                "gas": "CO2e",
                "kind": "average",
                "name": BA_NAMES.get(series.zone.removeprefix("US-"), series.zone),
            }
        )
    return rows


def us_state_rows(data: Path, cc_version: str) -> list[dict[str, object]]:
    raw = json.loads((data / "2023" / "usa_emissions.json").read_text())
    src = raw["_source"]
    rows: list[dict[str, object]] = []
    for state, rec in sorted(raw.items()):
        if state.startswith("_"):
            continue
        rows.append(
            {
                "zone": f"US-{rec['regionCode']}",
                "g_per_kwh": round(float(rec["emissions"]) * LB_PER_MWH_TO_G_PER_KWH, 3),
                "source": f"{src['name']} ({src['field']}) via codecarbon {cc_version} (MIT)",
                "year": int(src["year"]),
                "scope": "direct",
                "gas": "CO2e",
                "kind": "average",
                "name": state.title(),
            }
        )
    return rows


def china_rows(data: Path, cc_version: str) -> list[dict[str, object]]:
    raw = json.loads((data / "2023" / "china_provincial_emissions.json").read_text())
    meta = raw["metadata"]
    rows: list[dict[str, object]] = []
    for zone, rec in sorted(raw["data"].items()):
        rows.append(
            {
                "zone": zone,
                "g_per_kwh": float(rec["emission_factor"]),
                "source": f"MEE/NBS China provincial factors (Announcement {meta['announcement']}) "
                f"via codecarbon {cc_version} (MIT)",
                "year": int(rec["year"]),
                "scope": "direct",
                "gas": "CO2",
                "kind": "average",
                "name": rec["description"],
            }
        )
    return rows


def main() -> None:
    data = _codecarbon_data()
    version = _codecarbon_version()
    rows = (
        country_rows(data, version)
        + ba_rows(PROJECT_ROOT / "data" / "grid")
        + us_state_rows(data, version)
        + china_rows(data, version)
    )
    zones = [r["zone"] for r in rows]
    if len(zones) != len(set(zones)):
        raise SystemExit("duplicate zone ids; refusing to write an ambiguous table")
    with TABLE_PATH.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} zones to {TABLE_PATH}")


if __name__ == "__main__":
    main()
