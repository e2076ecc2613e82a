"""ImpactReport: what an app (or the whole suite) cost and saved, read from the ledger.

Definitions (also in docs/carbon.md):
- footprint: sum of ledger footprints (kWh measured, kgCO2e with PUE), by phase; its low/high
  range applies each record's ``uncertainty_rel`` (errors taken as fully correlated).
- savings: saving records except kind ``monitoring`` (emissions *represented* by what an app
  detects, e.g. forest loss: reported separately, never counted as a saving, and superseded
  like an estimate: the latest record per monitored area, named by its counterfactual id), after
  superseding:
  - an *event* (kind in ``EVENT_SAVING_KINDS``: a reused run, a batch job started in
    a low-carbon window) happened once per record, so every event record counts;
  - any other kind is a pipeline's *estimate* of a counterfactual (compact model vs reference
    over a period, agent vs naive controller, a measured replay). Re-running the pipeline
    re-estimates the same counterfactual, so only the latest record (highest ledger id) per
    (app, kind, counterfactual_id) counts; the older ones are *superseded* and counted in
    ``SavingTotal.superseded``. The counterfactual id is a stable slug the producer chooses (one
    per engine fleet, one per building); the baseline text describes it and can be reworded
    without counting a saving twice.
  Records stay in the ledger (append-only); superseding happens only here. An unknown kind is an
  estimate: it can be undercounted, never counted twice.
- net = savings − footprint (positive: the app saved more than it cost). net_low pairs low
  savings with the high footprint, net_high the reverse.
- payback time: with one-off savings S0 (records without ``period_days``) and a savings rate r
  (sum of co2e_kg / period_days over records that state a period), cumulative savings are
  S(t) = S0 + r·t; payback is the smallest t >= 0 with S(t) >= footprint, in days. 0 if already
  paid back, None if it never is at the stated rates. Central values only.
- SCI per functional unit: operational gCO2e per counted unit for each (phase, unit) with
  count > 0 — embodied emissions are not in the ledger, so this is the operational part of SCI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.ledger import FootprintRecord, Ledger, SavingRecord

MONITORING = "monitoring"
# Kinds whose every record is a separate realised event. ``reuse``: core.runs booked one avoided
# recomputation; ``carbon_aware_scheduling``: one batch job really started in a low-carbon window
# (core.carbon.best_start_window). Add a kind here only if each of its records is a new event.
EVENT_SAVING_KINDS = ("reuse", "carbon_aware_scheduling")


@dataclass(frozen=True)
class PhaseFootprint:
    """Totals of one phase: measured kWh (no PUE), kgCO2e (with PUE) and its range."""

    phase: str
    records: int
    energy_kwh: float
    co2e_kg: float
    co2e_kg_low: float
    co2e_kg_high: float
    methods: tuple[str, ...]  # distinct measurement methods behind the numbers


@dataclass(frozen=True)
class SavingTotal:
    """Savings of one kind (or all kinds) with the stated range, kgCO2e and kWh.

    ``records`` counted; ``superseded``: older estimates of the same counterfactual, not counted.
    """

    kind: str
    records: int
    superseded: int
    co2e_kg_low: float
    co2e_kg: float
    co2e_kg_high: float
    energy_kwh: float


@dataclass(frozen=True)
class SciLine:
    """Operational gCO2e (and J) per functional unit for one phase and unit."""

    phase: str
    unit: str
    count: int
    co2e_g_per_unit: float
    energy_j_per_unit: float


@dataclass(frozen=True)
class ImpactReport:
    """Footprint by phase, savings, monitoring totals, net, payback time and SCI per unit."""

    app: str | None
    footprint_by_phase: tuple[PhaseFootprint, ...]
    footprint_kwh: float
    footprint_kg: float
    footprint_kg_low: float
    footprint_kg_high: float
    savings_by_kind: tuple[SavingTotal, ...]
    savings: SavingTotal
    savings_note: str  # how many records were superseded, and the rule
    monitoring: SavingTotal
    net_kg: float
    net_kg_low: float
    net_kg_high: float
    savings_rate_kg_per_day: float
    payback_days: float | None
    payback_note: str
    sci: tuple[SciLine, ...]
    zones: tuple[str, ...]
    intensity_sources: tuple[str, ...]

    @classmethod
    def from_ledger(cls, ledger: Ledger, app: str | None = None) -> ImpactReport:
        """Build the report for ``app`` (None: every app together)."""
        return cls.from_records(ledger.footprints(app=app), ledger.savings(app=app), app=app)

    @classmethod
    def from_records(
        cls,
        footprints: list[FootprintRecord],
        savings: list[SavingRecord],
        app: str | None = None,
    ) -> ImpactReport:
        """Build the report from records (any order); savings superseded as the module says."""
        phases = _phases(footprints)
        fp_kg = sum(p.co2e_kg for p in phases)
        fp_low, fp_high = sum(p.co2e_kg_low for p in phases), sum(p.co2e_kg_high for p in phases)
        split = split_savings([s for s in savings if s.kind != MONITORING])
        counted = split.counted
        total = _saving_total("all", counted, split.superseded)
        rate = sum(s.co2e_kg / s.period_days for s in counted if s.period_days)
        one_off = sum(s.co2e_kg for s in counted if not s.period_days)
        payback, note = payback_days(fp_kg, one_off, rate)
        return cls(
            app=app,
            footprint_by_phase=phases,
            footprint_kwh=sum(p.energy_kwh for p in phases),
            footprint_kg=fp_kg,
            footprint_kg_low=fp_low,
            footprint_kg_high=fp_high,
            savings_by_kind=_by_kind(counted, split.superseded),
            savings=total,
            savings_note=split.note,
            monitoring=_monitoring_total([s for s in savings if s.kind == MONITORING]),
            net_kg=total.co2e_kg - fp_kg,
            net_kg_low=total.co2e_kg_low - fp_high,
            net_kg_high=total.co2e_kg_high - fp_low,
            savings_rate_kg_per_day=rate,
            payback_days=payback,
            payback_note=note,
            sci=_sci_lines(footprints),
            zones=tuple(sorted({f.zone for f in footprints})),
            intensity_sources=tuple(sorted({f"{f.intensity_source} ({f.intensity_year})"
                                            for f in footprints})),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class SavingsSplit:
    """Saving records split by the superseding rule (module docstring), each in ledger order."""

    counted: tuple[SavingRecord, ...]
    superseded: tuple[SavingRecord, ...]

    @property
    def note(self) -> str:
        """One sentence for a report: how many records were superseded, and why."""
        if not self.superseded:
            return f"{len(self.counted)} saving records counted; none superseded"
        return (f"{len(self.counted)} saving records counted; {len(self.superseded)} older "
                "estimates superseded by a later estimate of the same app, kind and counterfactual "
                "(events such as reuse always count)")


def estimate_key(record: SavingRecord) -> tuple[str, str, str] | None:
    """What identifies the counterfactual an estimate record is about; None for an event."""
    if record.kind in EVENT_SAVING_KINDS:
        return None
    return (record.app, record.kind, record.counterfactual_id)


def _monitoring_total(records: list[SavingRecord]) -> SavingTotal:
    """Monitoring records are estimates too: the same area accounted again (same counterfactual
    id, which names what was mapped) replaces the earlier figure instead of adding to it."""
    split = split_savings(records)
    return _saving_total(MONITORING, split.counted, split.superseded)


def split_savings(savings: Sequence[SavingRecord]) -> SavingsSplit:
    """Every event, plus the latest (highest id) estimate per :func:`estimate_key`."""
    latest: dict[tuple[str, str, str], int] = {}
    for s in savings:
        key = estimate_key(s)
        if key is not None and s.id > latest.get(key, -1):
            latest[key] = s.id
    counted: list[SavingRecord] = []
    superseded: list[SavingRecord] = []
    for s in sorted(savings, key=lambda r: r.id):
        key = estimate_key(s)
        (counted if key is None or latest[key] == s.id else superseded).append(s)
    return SavingsSplit(counted=tuple(counted), superseded=tuple(superseded))


def payback_days(footprint_kg: float, one_off_kg: float, rate_kg_per_day: float) -> tuple[float | None, str]:
    """Smallest t >= 0 (days) with one_off + rate·t >= footprint, and a sentence saying why."""
    if footprint_kg <= 0:
        return 0.0, "no footprint recorded"
    if one_off_kg >= footprint_kg:
        return 0.0, "one-off savings already exceed the footprint"
    if rate_kg_per_day <= 0:
        return None, "never at the stated rates: no saving states a period (period_days)"
    days = (footprint_kg - one_off_kg) / rate_kg_per_day
    return days, f"{days:.1f} days at {rate_kg_per_day:.4g} kgCO2e/day of stated savings"


def _phases(footprints: list[FootprintRecord]) -> tuple[PhaseFootprint, ...]:
    groups: dict[str, list[FootprintRecord]] = defaultdict(list)
    for f in footprints:
        groups[f.phase].append(f)
    return tuple(
        PhaseFootprint(
            phase=phase,
            records=len(recs),
            energy_kwh=sum(r.energy_kwh for r in recs),
            co2e_kg=sum(r.co2e_kg for r in recs),
            co2e_kg_low=sum(r.co2e_kg * max(1.0 - r.uncertainty_rel, 0.0) for r in recs),
            co2e_kg_high=sum(r.co2e_kg * (1.0 + r.uncertainty_rel) for r in recs),
            methods=tuple(sorted({r.method for r in recs})),
        )
        for phase, recs in sorted(groups.items())
    )


def _saving_total(kind: str, recs: Sequence[SavingRecord], superseded: Sequence[SavingRecord]) -> SavingTotal:
    return SavingTotal(
        kind=kind,
        records=len(recs),
        superseded=sum(1 for s in superseded if kind == "all" or s.kind == kind),
        co2e_kg_low=sum(s.co2e_kg_low for s in recs),
        co2e_kg=sum(s.co2e_kg for s in recs),
        co2e_kg_high=sum(s.co2e_kg_high for s in recs),
        energy_kwh=sum(s.energy_kwh or 0.0 for s in recs),
    )


def _by_kind(recs: Sequence[SavingRecord], superseded: Sequence[SavingRecord]) -> tuple[SavingTotal, ...]:
    groups: dict[str, list[SavingRecord]] = defaultdict(list)
    for s in recs:
        groups[s.kind].append(s)
    return tuple(_saving_total(kind, group, superseded) for kind, group in sorted(groups.items()))


def _sci_lines(footprints: list[FootprintRecord]) -> tuple[SciLine, ...]:
    groups: dict[tuple[str, str], list[FootprintRecord]] = defaultdict(list)
    for f in footprints:
        if f.count > 0 and f.unit:
            groups[(f.phase, f.unit)].append(f)
    lines = []
    for (phase, unit), recs in sorted(groups.items()):
        count = sum(r.count for r in recs)
        lines.append(
            SciLine(
                phase=phase,
                unit=unit,
                count=count,
                co2e_g_per_unit=sum(r.co2e_kg for r in recs) * 1000.0 / count,
                energy_j_per_unit=sum(r.energy_j for r in recs) / count,
            )
        )
    return tuple(lines)
