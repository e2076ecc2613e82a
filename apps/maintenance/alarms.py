"""Cost-based, debounced maintenance alarms and their precision/recall at a horizon.

Rule: raise when P(RUL <= lead time) × failure cost > planned-maintenance cost, i.e. when the
probability exceeds planned/failure. A raw alarm must hold for ``debounce_cycles`` consecutive
cycles before it fires (sensor noise must not trigger a shop visit), and once fired it stays on
(latched) until maintenance resets the unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError, DataError


@dataclass(frozen=True)
class AlarmPolicy:
    """Alarm parameters. Costs are in any one currency (only their ratio matters)."""

    lead_time_cycles: float = 30.0  # cycles needed to plan a shop visit
    failure_cost: float = 4.0  # unscheduled removal after failure
    planned_cost: float = 1.0  # planned removal
    debounce_cycles: int = 3

    def __post_init__(self) -> None:
        if self.failure_cost <= 0 or self.planned_cost <= 0:
            raise ConfigError("alarm costs must be > 0")
        if self.debounce_cycles < 1 or self.lead_time_cycles <= 0:
            raise ConfigError("debounce_cycles must be >= 1 and lead_time_cycles > 0")

    @property
    def probability_threshold(self) -> float:
        """Alarm when P(RUL <= lead) exceeds this (= planned / failure cost)."""
        return self.planned_cost / self.failure_cost

    def raw(self, prob_failure_within_lead: np.ndarray) -> np.ndarray:
        """Expected-cost rule per row, before debouncing."""
        p = np.asarray(prob_failure_within_lead, float)
        return p * self.failure_cost > self.planned_cost


def debounce(raw: np.ndarray, units: np.ndarray, cycles_needed: int) -> np.ndarray:
    """Per-row latched alarm: on from the row where ``raw`` has held ``cycles_needed`` rows in a
    row for that unit. Rows must be grouped by unit and ordered by cycle."""
    raw = np.asarray(raw, bool)
    units = np.asarray(units)
    if raw.shape != units.shape:
        raise DataError("raw alarms and units must have the same length")
    out = np.zeros_like(raw)
    run, fired = 0, False
    for i in range(len(raw)):
        if i == 0 or units[i] != units[i - 1]:
            run, fired = 0, False
        run = run + 1 if raw[i] else 0
        fired = fired or run >= cycles_needed
        out[i] = fired
    return out


def first_alarm_cycle(alarm: np.ndarray, units: np.ndarray, cycles: np.ndarray) -> dict[int, int]:
    """{unit: first cycle with the (debounced) alarm on}; units that never alarm are absent."""
    out: dict[int, int] = {}
    for unit, cycle, on in zip(units, cycles, alarm, strict=True):
        if on and int(unit) not in out:
            out[int(unit)] = int(cycle)
    return out


@dataclass(frozen=True)
class AlarmStats:
    """Confusion counts of alarms vs "fails within horizon" over units, and precision/recall."""

    horizon_cycles: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when no alarm was raised (no false alarm)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when no unit was due."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict[str, float]:
        """JSON-ready, with precision and recall."""
        return {"horizon_cycles": self.horizon_cycles, "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "tn": self.tn, "precision": self.precision, "recall": self.recall}


def evaluate_alarms(alarm_on: np.ndarray, true_rul: np.ndarray, horizon: float) -> AlarmStats:
    """Alarm state at each unit's last observed cycle vs whether its true RUL <= ``horizon``."""
    alarm_on, due = np.asarray(alarm_on, bool), np.asarray(true_rul, float) <= horizon
    if alarm_on.shape != due.shape:
        raise DataError("one alarm state per unit is needed")
    return AlarmStats(
        float(horizon),
        int(np.sum(alarm_on & due)), int(np.sum(alarm_on & ~due)),
        int(np.sum(~alarm_on & due)), int(np.sum(~alarm_on & ~due)),
    )
