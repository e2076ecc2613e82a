"""Perfect-foresight tank dispatch (LP + replay) and the in-sample schedule-rule bound, on a few
real days (Dallas + MISO, 24-26 July 2022: demand-response events on 25 and 26 July)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from apps.cooling.baselines import CarbonRuleController, CarbonRuleParams, NaiveController
from apps.cooling.env import CoolingEnv
from apps.cooling.kpis import rollout
from apps.cooling.office import OfficeZone
from apps.cooling.oracle import OracleController, StepTrace, run_oracle, solve_dispatch
from apps.cooling.rule_bound import ScheduleParams, ScheduleRule, rule_bound
from apps.cooling.safety import ENVELOPES
from apps.cooling.scenario import held_out_specs
from apps.cooling.storage import TankParams

START, DAYS, TANK_KWH = 204, 3, 200.0
RULE = CarbonRuleParams(low_quantile=0.33, high_quantile=0.67, price_weight=0.5, edge_c=26.0,
                        precool_c=25.0, precool_hours=0, setback_c=28.0)


@pytest.fixture(scope="module")
def dallas():
    return held_out_specs("office")[0]


@pytest.fixture(scope="module")
def oracle(dallas):
    policy = CarbonRuleController(ENVELOPES["office"], RULE)
    return run_oracle(dallas, policy, TANK_KWH, start_day=START, days=DAYS)


def test_dispatch_respects_the_tank(oracle):
    tank, plan = TankParams(TANK_KWH), oracle.dispatch
    assert plan.stored_kwh_th.min() >= -1e-6 and plan.stored_kwh_th.max() <= TANK_KWH + 1e-6
    assert np.abs(plan.rate_w_th).max() <= tank.max_rate_w_th + 1e-6
    assert plan.stored_kwh_th.max() > 0.5 * TANK_KWH  # it does use the tank
    assert oracle.kpis.dr_event_h == 8.0 and plan.dr_shortfall_kwh_th == pytest.approx(0.0, abs=1e-6)
    assert oracle.kpis.dr_within_limit_share == 1.0


def test_replay_follows_the_plan_and_saves(dallas, oracle):
    # the LP's prediction is the simulator's own number (relative 1e-6)
    assert oracle.kpis.co2_kg_per_m2 == pytest.approx(oracle.lp_co2_kg_per_m2, rel=1e-6)
    # below the same setpoints with the tank commanded idle (the DR layer still fills it)
    assert oracle.kpis.co2_kg_per_m2 < oracle.idle_tank_kpis.co2_kg_per_m2 - 1e-3
    assert oracle.kpis.discomfort_kh == pytest.approx(oracle.no_tank_kpis.discomfort_kh, abs=1e-9)
    # the replayed state of charge at each hour's end is the plan's
    env = CoolingEnv((dallas,), random_start=False, storage_kwh=TANK_KWH)
    ctrl = OracleController(CarbonRuleController(env.envelope, RULE), oracle.dispatch,
                            TankParams(TANK_KWH), START * 24)
    _, trace = rollout(env, ctrl, start_day=START, days=DAYS)
    planned = oracle.dispatch.stored_kwh_th[env.substeps - 1::env.substeps] / TANK_KWH
    np.testing.assert_allclose(trace.soc, planned, atol=1e-6)
    assert trace.soc.min() >= 0.0 and trace.soc.max() <= 1.0


def _two_hours(ci: tuple[float, float]) -> StepTrace:
    """Two control hours of four 15-min steps, a steady 20 kW thermal load at COP 3."""
    return StepTrace(mech_w_th=np.full(8, 20e3), cop=np.full(8, 3.0), elec_w=np.full(8, 8e3),
                     ci_g_per_kwh=np.repeat(np.array(ci, float), 4), dr_event=np.zeros(8, bool),
                     plant_capacity_w_th=60e3, dr_limit_w=7.5e3, dt_s=900.0, substeps=4,
                     first_step=0)


def test_charges_in_the_clean_hour_and_discharges_in_the_dirty_one():
    tank = TankParams(10.0)  # 2.5 kW thermal rate
    plan = solve_dispatch(_two_hours((100.0, 900.0)), tank)
    assert plan.rate_w_th[0] == pytest.approx(tank.max_rate_w_th)
    assert plan.rate_w_th[1] < -0.9 * tank.max_rate_w_th  # all of it back, less the loss
    assert plan.lp_co2_kg < plan.idle_co2_kg
    # dirty then clean: nothing worth shifting, the tank stays idle
    idle = solve_dispatch(_two_hours((900.0, 100.0)), tank)
    np.testing.assert_allclose(idle.rate_w_th, 0.0, atol=1e-6)
    assert idle.lp_co2_kg == pytest.approx(idle.idle_co2_kg)


def test_charge_is_capped_by_the_plant_headroom():
    tr = dataclasses.replace(_two_hours((100.0, 900.0)), plant_capacity_w_th=21e3)
    plan = solve_dispatch(tr, TankParams(10.0))
    assert plan.rate_w_th[0] == pytest.approx(1e3)  # 21 kW plant - 20 kW load


def test_rule_bound_picks_the_least_co2_within_comfort(dallas):
    cands = [ScheduleParams(setback_c=28.0), ScheduleParams(setback_c=30.0),
             ScheduleParams(precool_c=22.0, precool_hours=4)]
    best = rule_bound(dallas, start_day=START, days=DAYS, candidates=cands)
    env = CoolingEnv((dallas,), random_start=False)
    co2 = [rollout(env, ScheduleRule(p), start_day=START, days=DAYS)[0].co2_kg_per_m2 for p in cands]
    assert best.kpis.co2_kg_per_m2 == pytest.approx(min(co2))
    assert best.params == cands[int(np.argmin(co2))]
    assert best.co2_vs_naive_pct < 0.0


def test_relaxation_steps_the_simulator_equations(dallas):
    """The LP's affine 5R1C step reproduces the simulator's air temperatures from its cooling."""
    from apps.cooling.oracle import _Recorder
    from apps.cooling.oracle_bound import _affine
    from apps.cooling.scenario import build_scenario

    env = CoolingEnv((dallas,), random_start=False)
    rec = _Recorder(env.building)
    env.building = rec
    rollout(env, CarbonRuleController(env.envelope, RULE), start_day=START, days=1)
    ks = np.arange(START * 96, START * 96 + 96)
    outs = [rec.out[int(k)] for k in ks]
    c = _affine(OfficeZone(), build_scenario(dallas).drivers, ks, 900.0)
    env.reset(seed=0, options={"scenario": 0, "start_day": START})
    m = env.building.state()
    for i, o in enumerate(outs):
        phi = o.heating_w - o.cooling_w
        assert c["a0"][i] + c["am"][i] * m + c["ap"][i] * phi == pytest.approx(o.temp_c, abs=1e-9)
        m = c["m0"][i] + c["mm"][i] * m + c["mp"][i] * phi


def test_bound_is_below_the_controllers(dallas, oracle):
    from apps.cooling.oracle_bound import HourlySetpoints, co2_bound, hourly_setpoints

    env = CoolingEnv((dallas,), random_start=False)
    naive, _ = rollout(env, NaiveController(env.envelope), start_day=START, days=DAYS)
    budget = naive.discomfort_kh + 0.5
    free = co2_bound(dallas, budget, 0.0, start_day=START, days=DAYS)
    tank = co2_bound(dallas, budget, TANK_KWH, start_day=START, days=DAYS)
    assert tank.co2_kg_per_m2 < free.co2_kg_per_m2 < oracle.no_tank_kpis.co2_kg_per_m2
    assert tank.co2_kg_per_m2 < oracle.kpis.co2_kg_per_m2  # below the tank oracle too
    assert free.discomfort_kh <= budget + 1e-6
    # the solution keeps the env's reach: heating holds 16/20 degC, nothing cools below 22 degC
    heat_sp = np.where(free.occupied, 20.0, 16.0)
    assert free.air_c.min() >= heat_sp.min() - 1e-6 and free.air_c.max() <= 30.0 + 1e-6
    q_cap = OfficeZone().cooling_capacity_w
    assert np.all(free.cooling_w_th <= q_cap * (free.air_c - heat_sp) / (22.0 - heat_sp) + 1e-3)
    assert 0.0 < free.peak_load_share < 1.0
    # its hourly replay is a real schedule: simulated CO2 at or above the bound, within comfort
    replay = HourlySetpoints(hourly_setpoints(free, env.substeps), START * 24, env.envelope)
    k, _ = rollout(env, replay, start_day=START, days=DAYS)
    assert free.co2_kg_per_m2 <= k.co2_kg_per_m2 < naive.co2_kg_per_m2
    assert k.discomfort_kh <= budget
