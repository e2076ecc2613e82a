"""CSV and JSON exports of the ledger.

The footprint CSV starts with CodeCarbon's ``emissions.csv`` column names where a value maps
(energies in kWh and, as in CodeCarbon, multiplied by PUE; emissions in kgCO2e; duration in s;
power in W), then greenstack's own columns (method, scope, uncertainty, intensity provenance).
Differences: ``country_iso_code`` is ISO 3166-1 alpha-2 here (CodeCarbon writes alpha-3) and
``region`` holds the greenstack zone id.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.errors import DataError, LedgerError
from core.ledger.records import FootprintRecord, SavingRecord


class Records(Protocol):
    """What an export reads: the ledger's two tables (``core.ledger.Ledger`` is one)."""

    def footprints(self) -> list[FootprintRecord]: ...

    def savings(self) -> list[SavingRecord]: ...

CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "country_iso_code", "region", "tracking_mode",
    "cpu_utilization_percent", "pue",
)  # fmt: skip
GREENSTACK_COLUMNS = (
    "record_id", "phase", "measurement_name", "unit", "count", "cpu_s", "energy_j",
    "it_energy_kwh", "method", "scope", "uncertainty_rel", "components_json", "zone",
    "g_per_kwh", "intensity_source", "intensity_year", "intensity_scope", "intensity_gas",
    "intensity_kind", "intensity_method", "intensity_at", "co2e_kg_per_unit", "notes",
)  # fmt: skip
SAVING_COLUMNS = (
    "record_id", "created_unix_s", "app", "run_id", "kind", "counterfactual_id", "co2e_kg",
    "co2e_kg_low", "co2e_kg_high", "energy_kwh", "baseline", "method", "assumptions_json",
    "period_days", "notes",
)  # fmt: skip


def footprint_row(rec: FootprintRecord) -> dict[str, Any]:
    """One footprint as a CSV row (CodeCarbon columns, then greenstack columns)."""
    kwh = _component_kwh(rec)
    duration = rec.wall_s
    return {
        "timestamp": datetime.fromtimestamp(rec.start_unix_s, UTC).isoformat(),
        "project_name": rec.app,
        "run_id": rec.run_id,
        "duration": duration,
        "emissions": rec.co2e_kg,
        "emissions_rate": rec.co2e_kg / duration if duration > 0 else "",
        "cpu_power": _watts(kwh["cpu"], duration),
        "gpu_power": _watts(kwh["gpu"], duration),
        "ram_power": _watts(kwh["ram"], duration),
        "cpu_energy": kwh["cpu"],
        "gpu_energy": kwh["gpu"],
        "ram_energy": kwh["ram"],
        "energy_consumed": rec.facility_energy_kwh,
        "country_iso_code": rec.zone.split("-")[0],
        "region": rec.zone,
        "tracking_mode": rec.scope,
        "cpu_utilization_percent": rec.utilisation * 100.0,
        "pue": rec.pue,
        **_greenstack_columns(rec),
    }


def _greenstack_columns(rec: FootprintRecord) -> dict[str, Any]:
    return {
        "record_id": rec.record_id,
        "phase": rec.phase,
        "measurement_name": rec.name,
        "unit": rec.unit or "",
        "count": rec.count,
        "cpu_s": rec.cpu_s,
        "energy_j": rec.energy_j,
        "it_energy_kwh": rec.energy_kwh,
        "method": rec.method,
        "scope": rec.scope,
        "uncertainty_rel": rec.uncertainty_rel,
        "components_json": rec.components_json,
        "zone": rec.zone,
        "g_per_kwh": rec.g_per_kwh,
        "intensity_source": rec.intensity_source,
        "intensity_year": rec.intensity_year,
        "intensity_scope": rec.intensity_scope,
        "intensity_gas": rec.intensity_gas,
        "intensity_kind": rec.intensity_kind,
        "intensity_method": rec.intensity_method,
        "intensity_at": rec.intensity_at or "",
        "co2e_kg_per_unit": rec.co2e_kg / rec.count if rec.count > 0 else "",
        "notes": rec.notes,
    }


def _component_kwh(rec: FootprintRecord) -> dict[str, float]:
    """CPU / GPU / RAM kWh × PUE (CodeCarbon convention); psys is whole-platform, left out."""
    out = {"cpu": 0.0, "gpu": 0.0, "ram": 0.0}
    for comp in rec.components:
        name = str(comp["name"])
        group = (
            "cpu" if name.startswith(("cpu", "core", "uncore")) else
            "gpu" if name.startswith("gpu") else
            "ram" if name.startswith(("dram", "ram")) else None
        )  # fmt: skip
        if group is not None:
            out[group] += float(comp["energy_j"]) / 3.6e6 * rec.pue
    return out


def _watts(energy_kwh: float, duration_s: float) -> float | str:
    return energy_kwh * 3.6e6 / duration_s if duration_s > 0 else ""


def write_csv(ledger: Records, path: Path, table: str = "footprints") -> Path:
    """Write one table as CSV; returns ``path``."""
    if table == "footprints":
        columns: tuple[str, ...] = CODECARBON_COLUMNS + GREENSTACK_COLUMNS
        rows = [footprint_row(r) for r in ledger.footprints()]
    elif table == "savings":
        columns = SAVING_COLUMNS
        rows = [{c: getattr(r, c) for c in SAVING_COLUMNS} for r in ledger.savings()]
    else:
        raise DataError(f"table must be 'footprints' or 'savings', not {table!r}")
    _write(path, lambda fh: _csv(fh, columns, rows))
    return path


def write_json(ledger: Records, path: Path) -> Path:
    """Write both tables as one JSON document; returns ``path``."""
    doc = {
        "footprints": [r.to_dict() for r in ledger.footprints()],
        "savings": [r.to_dict() for r in ledger.savings()],
    }
    _write(path, lambda fh: json.dump(doc, fh, indent=2))
    return path


def _csv(fh: Any, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _write(path: Path, body: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")  # never leave a half-written export behind
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            body(fh)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise LedgerError(f"cannot write export {path}: {e}") from e
