"""Frozen records read back from the ledger."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from core.units import j_to_kwh

PHASES = ("train", "compress", "evaluate", "serve", "batch")
RESERVED_SAVING_KINDS = ("reuse", "monitoring")
COUNTERFACTUAL_ID_MAX = 128
COUNTERFACTUAL_ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def counterfactual_slug(text: str) -> str:
    """The counterfactual id derived from a description: lower case, ``-`` between words.

    Used for records written before ids existed and as the default of ``record_saving``; an app
    names its counterfactuals with explicit ids so that rewording a description changes nothing.
    A slug over the length limit keeps its start and ends in 8 hex digits of the text's sha256.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"
    if len(slug) <= COUNTERFACTUAL_ID_MAX:
        return slug
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{slug[:COUNTERFACTUAL_ID_MAX - 9].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class FootprintRecord:
    """One measured span of work, the intensity applied to it and the resulting kgCO2e.

    ``energy_j`` is IT energy as measured; ``co2e_kg`` = kWh × ``pue`` × ``g_per_kwh`` / 1000.
    ``components_json`` holds the per-component joules with method and source.
    """

    id: int
    record_id: str
    created_unix_s: float
    app: str
    run_id: str
    phase: str
    name: str
    unit: str | None
    count: int
    start_unix_s: float
    wall_s: float
    cpu_s: float
    energy_j: float
    components_json: str
    method: str
    scope: str
    uncertainty_rel: float
    utilisation: float
    measurement_notes_json: str
    zone: str
    g_per_kwh: float
    intensity_source: str
    intensity_year: int
    intensity_scope: str
    intensity_gas: str
    intensity_kind: str
    intensity_method: str
    intensity_at: str | None
    pue: float
    co2e_kg: float
    notes: str

    @property
    def energy_kwh(self) -> float:
        """Measured IT energy in kWh (PUE not applied)."""
        return j_to_kwh(self.energy_j)

    @property
    def facility_energy_kwh(self) -> float:
        """Energy including facility overhead: kWh × PUE."""
        return self.energy_kwh * self.pue

    @property
    def components(self) -> list[dict[str, Any]]:
        """Per-component energy: ``[{"name", "energy_j", "method", "source"}, ...]``."""
        out: list[dict[str, Any]] = json.loads(self.components_json)
        return out

    @property
    def measurement_notes(self) -> list[str]:
        out: list[str] = json.loads(self.measurement_notes_json)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with components and notes decoded."""
        out = asdict(self)
        del out["components_json"], out["measurement_notes_json"]
        out["components"] = self.components
        out["measurement_notes"] = self.measurement_notes
        out["energy_kwh"] = self.energy_kwh
        return out


@dataclass(frozen=True)
class SavingRecord:
    """Emissions avoided (or, for kind ``monitoring``, represented) with their basis.

    ``co2e_kg`` is the central estimate, ``co2e_kg_low``/``co2e_kg_high`` the stated range.
    ``period_days`` (optional) is the time over which the saving accrues; it turns a saving into a
    rate for payback time. None means a one-off saving already realised.
    """

    id: int
    record_id: str
    created_unix_s: float
    app: str
    run_id: str
    kind: str
    counterfactual_id: str  # stable slug: which counterfactual an estimate is about
    co2e_kg: float
    co2e_kg_low: float
    co2e_kg_high: float
    energy_kwh: float | None
    baseline: str  # the counterfactual in words (free to reword; the id identifies it)
    method: str
    assumptions_json: str
    period_days: float | None
    notes: str

    @property
    def assumptions(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.assumptions_json)
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("assumptions_json")
        out["assumptions"] = self.assumptions
        return out
