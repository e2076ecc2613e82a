"""Alarm rule and debouncing, alarm precision/recall, savings arithmetic by hand."""

from __future__ import annotations

import numpy as np
import pytest

from apps.maintenance.alarms import (
    AlarmPolicy,
    debounce,
    evaluate_alarms,
    first_alarm_cycle,
)
from apps.maintenance.savings import (
    FACTORS,
    LEVELS,
    PLANNING_DELAY_CYCLES,
    compare_policies,
    engine_co2e_kg,
    factor_values,
    safe_interval,
)
from core.errors import ConfigError, DataError


def test_cost_rule_threshold() -> None:
    policy = AlarmPolicy(failure_cost=4.0, planned_cost=1.0)
    assert policy.probability_threshold == 0.25
    assert policy.raw(np.array([0.2, 0.25, 0.3])).tolist() == [False, False, True]
    with pytest.raises(ConfigError):
        AlarmPolicy(failure_cost=0.0)


def test_debounce_needs_consecutive_cycles_latches_and_resets_per_unit() -> None:
    raw = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 1], bool)
    units = np.array([1, 1, 1, 1, 1, 1, 1, 2, 2, 2])
    out = debounce(raw, units, cycles_needed=2)
    # unit 1: two in a row at index 3 → on and latched; unit 2 starts fresh, needs 2 again.
    assert out.tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 1, 1]
    cycles = np.array([1, 2, 3, 4, 5, 6, 7, 1, 2, 3])
    assert first_alarm_cycle(out, units, cycles) == {1: 4, 2: 2}


def test_single_noisy_spike_does_not_fire() -> None:
    raw = np.array([0, 1, 0, 1, 0, 1, 0], bool)
    assert not debounce(raw, np.ones(7, int), 2).any()


def test_alarm_precision_recall() -> None:
    alarm = np.array([True, True, False, False, True])
    true_rul = np.array([10, 50, 20, 100, 30])
    stats = evaluate_alarms(alarm, true_rul, horizon=30)
    assert (stats.tp, stats.fp, stats.fn, stats.tn) == (2, 1, 1, 1)
    assert stats.precision == pytest.approx(2 / 3) and stats.recall == pytest.approx(2 / 3)
    with pytest.raises(DataError):
        evaluate_alarms(alarm[:2], true_rul, 30)


def test_engine_co2_by_hand() -> None:
    f = factor_values("central")
    parts = 300.0 * 20.0  # replaced_parts_mass_kg × parts_kgco2e_per_kg
    # Planned removal 50 cycles early on a 200-cycle life: wasted life + degraded fuel.
    m, span = 75, 125  # degraded cycles flown (onset at 75), degradation span
    degraded = 1500.0 * 0.01 * (m * (m + 1) / 2) / span * 3.16
    assert engine_co2e_kg(200, 150, False, f) == pytest.approx(parts * 50 / 200 + degraded)
    # Failure: no waste, secondary damage + disruption fuel, full degraded phase.
    full = 1500.0 * 0.01 * (125 * 126 / 2) / 125 * 3.16
    expected = parts * 1.0 + 3000.0 * 3.16 + full
    assert engine_co2e_kg(200, 200, True, f) == pytest.approx(expected)
    with pytest.raises(DataError):
        engine_co2e_kg(200, 0, False, f)


def test_policies_compare_on_the_same_engines() -> None:
    lives = {1: 200, 2: 150, 3: 300}
    alarms = {1: 180, 3: 280}  # engine 2 never alarms → fails
    report = compare_policies(lives, alarms, safe_interval_cycles=140)
    out = report.outcomes
    assert out["run_to_failure"].failures == 3 and out["run_to_failure"].wasted_cycles == 0
    assert out["fixed_interval"].failures == 0
    assert out["fixed_interval"].wasted_cycles == (200 - 140) + (150 - 140) + (300 - 140)
    assert out["alarm"].failures == 1
    assert out["alarm"].wasted_cycles == 2 * (20 - PLANNING_DELAY_CYCLES)
    for base in ("run_to_failure", "fixed_interval"):
        for lv in LEVELS:
            assert report.saved_co2e_kg[base][lv] == pytest.approx(
                out[base].co2e_kg[lv] - out["alarm"].co2e_kg[lv])
    assert report.saved_co2e_kg["run_to_failure"]["central"] > 0
    assert {f["name"] for f in report.to_dict()["factors"]} == {f.name for f in FACTORS}


def test_every_factor_is_named_sourced_and_ordered() -> None:
    for f in FACTORS:
        assert f.source and f.unit
        assert f.low <= f.central <= f.high
    assert safe_interval(np.array([200, 128, 300])) == 128
    with pytest.raises(DataError):
        compare_policies({}, {}, 100)
