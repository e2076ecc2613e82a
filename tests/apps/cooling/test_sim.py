"""Readers on the shipped real files, physics sanity, env contract and determinism."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from apps.cooling.weather import read_weather

DATA = Path(__file__).resolve().parents[3] / "data"
PHOENIX = DATA / "weather" / "USA_AZ_Phoenix-Sky.Harbor.epw.gz"
ERCO = DATA / "grid" / "ERCO_NG_avgCI_2022.csv.gz"


@pytest.mark.parametrize("name,fmt,tz", [
    ("USA_AZ_Phoenix-Sky.Harbor.epw.gz", "epw", -7.0),
    ("723170TYA.CSV.gz", "tmy3", -5.0),
    ("12839.tm2.gz", "tmy2", -5.0),
])
def test_readers_on_real_files(name, fmt, tz):
    w = read_weather(DATA / "weather" / name)
    assert w.source_format == fmt and w.tz_offset_h == tz
    assert len(w.temp_c) == 8760 and np.isfinite(w.temp_c).all()
    assert -40 < w.temp_c.min() < w.temp_c.max() < 50  # degC, TMY2 tenths converted
    noon = w.local_times.hour == 12
    assert w.ghi_w_m2[noon].mean() > 4 * w.ghi_w_m2[w.local_times.hour == 2].mean()  # local time
    assert w.utc_times[0].hour == int(-tz)


def test_bad_weather_files_raise_data_error(tmp_path):
    from core.errors import DataError

    bad = tmp_path / "broken.epw"
    bad.write_text("LOCATION,nowhere\nnot,an,epw\n")
    with pytest.raises(DataError):
        read_weather(bad)
    with pytest.raises(DataError):
        read_weather(tmp_path / "missing.epw")
    with pytest.raises(DataError):
        read_weather(PHOENIX.with_name("x.txt"))


def test_grid_is_aligned_to_utc(tmp_path):
    from apps.cooling.grid import load_grid
    from core.carbon import HourlySeries

    w = read_weather(PHOENIX)
    g = load_grid(ERCO, w)
    hs = HourlySeries.from_csv(ERCO, zone="US-ERCO")
    utc = w.utc_times[4000]
    assert g.ci_avg_g_per_kwh[4000] == pytest.approx(hs.intensity(utc.to_pydatetime()).g_per_kwh)
    assert np.isfinite(g.ci_marginal_g_per_kwh).all()
    assert (g.ci_marginal_g_per_kwh >= 490 - 1e-6).all()  # fossil-only mix >= gas factor


def _office_week(setpoint_c: float, start_day: int = 190):
    from apps.cooling.office import OfficeZone

    zone = OfficeZone()
    d = zone.drivers(read_weather(PHOENIX), 900.0)
    zone.reset(25.0)
    k0 = start_day * 96
    return zone, d, [zone.step(d, k, setpoint_c, 900.0) for k in range(k0, k0 + 96 * 7)], k0


def test_no_cooling_in_summer_heats_up():
    _, _, free, _ = _office_week(99.0)
    _, _, cooled, _ = _office_week(24.0)
    assert max(o.temp_c for o in free) > 35.0
    assert max(o.temp_c for o in cooled) <= 24.0 + 1e-6
    assert sum(o.cooling_w for o in free) == 0.0 and sum(o.cooling_w for o in cooled) > 0


def test_5r1c_energy_balance():
    """Heat in (gains, HVAC, envelope and ventilation flows) = heat stored in the mass node.

    ISO 13790's gain split (C.2) sends the share H_tr_w / (9.1 A_t) of the radiant gains
    straight out through the glazing; the balance accounts for it."""
    from apps.cooling.office import OfficeZone

    zone = OfficeZone()
    d = zone.drivers(read_weather(PHOENIX), 900.0)
    zone.reset(26.0)
    stored0, net_j = zone.theta_m * zone.c_m_j_k, 0.0
    for k in range(190 * 96, 190 * 96 + 96 * 3):
        before = zone.theta_m
        out = zone.step(d, k, 24.0, 900.0)
        theta_m = 0.5 * (before + zone.theta_m)
        te = float(d.temp_out_c[k])
        theta_s = (out.operative_c - 0.3 * out.temp_c) / 0.7
        radiant = 0.5 * d.phi_int_w[k] + d.phi_sol_w[k]
        gains = d.phi_int_w[k] + d.phi_sol_w[k] - zone.h_tr_w / (9.1 * zone.a_t) * radiant
        flows = (gains + out.heating_w - out.cooling_w
                 + d.h_ve_w_k[k] * (te - out.temp_c) + zone.h_tr_w * (te - theta_s)
                 + zone.h_tr_em * (te - theta_m))
        net_j += flows * 900.0
    stored = zone.theta_m * zone.c_m_j_k - stored0
    assert stored == pytest.approx(net_j, rel=1e-6, abs=1e3)


def _hall_month(supply_c: float, first_day: int) -> tuple[float, float]:
    from apps.cooling.datahall import DataHall

    hall = DataHall()
    d = hall.drivers(read_weather(DATA / "weather" / "USA_IL_Chicago.OHare.epw.gz"), 900.0)
    hall.reset(supply_c + 1.5)
    outs = [hall.step(d, k, supply_c, 900.0) for k in range(first_day * 96, (first_day + 30) * 96)]
    assert all(18.0 <= o.temp_c <= 27.0 for o in outs[4:])
    return sum(o.elec_w for o in outs), float(np.mean([o.free_cooling for o in outs]))


def test_datahall_inlet_tradeoff():
    """Summer: a warmer inlet means more economiser hours and a better chiller COP, so less
    energy. Winter: free cooling is already total, so only the server fans' rise remains."""
    from apps.cooling.datahall import DataHall

    cold, warm = _hall_month(18.5, 190), _hall_month(24.0, 190)
    assert warm[0] < cold[0] and warm[1] >= cold[1]
    cold, warm = _hall_month(18.5, 0), _hall_month(24.0, 0)
    assert warm[0] > cold[0] and cold[1] == pytest.approx(1.0)
    assert DataHall().server_fan_w(100e3, 35.0) > DataHall().server_fan_w(100e3, 27.0) > 0


def test_env_passes_check_env_and_is_registered():
    from gymnasium.utils.env_checker import check_env

    import apps.cooling.env  # noqa: F401  registers the ids
    from apps.cooling import DATAHALL_ENV_ID, ENV_ID

    for env_id in (ENV_ID, DATAHALL_ENV_ID):
        env = gym.make(env_id, episode_days=2)
        check_env(env.unwrapped, skip_render_check=True)


def test_env_is_deterministic_under_a_seed():
    from apps.cooling.env import CoolingEnv

    def run(seed):
        env = CoolingEnv(episode_days=2)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(48):
            obs, r, _, trunc, info = env.step(env.action_space.sample())
            out += [obs, np.array([r, info["co2_kg"]])]
            if trunc:
                break
        return np.concatenate([np.ravel(o) for o in out])

    assert np.array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_setpoints_are_clamped_and_rate_limited_in_the_env():
    from apps.cooling.env import CoolingEnv

    env = CoolingEnv(episode_days=1, control_step_min=15)
    env.reset(seed=0, options={"start_day": 200})
    prev = env.setpoint_c
    for a in [1.0, -1.0, 1.0, -1.0] * 6:
        _, _, _, _, info = env.step(np.array([a], np.float32))
        assert abs(info["setpoint_c"] - prev) <= 1.0 + 1e-9
        assert env.envelope.min_c <= info["setpoint_c"] <= env.envelope.max_c
        prev = info["setpoint_c"]


def test_rate_limit_since_uses_real_elapsed_time():
    from apps.cooling.safety import rate_limit_since

    assert rate_limit_since(26.0, []) == 26.0  # nothing known: nothing to limit against
    assert rate_limit_since(26.0, [(1.0, 20.0)]) == pytest.approx(20.0 + 1.0 / 900.0)
    assert rate_limit_since(26.0, [(900.0, 20.0)]) == pytest.approx(21.0)
    assert rate_limit_since(10.0, [(1800.0, 20.0)]) == pytest.approx(18.0)
    # the latest value held since the start of its run: 20 reported 15 min ago, re-reported now
    assert rate_limit_since(26.0, [(0.0, 20.0), (900.0, 20.0)]) == pytest.approx(21.0)
    # a run of small steps is held to the slope from its first value, not from each step
    run = [(900.0, 20.0), (600.0, 20.005), (300.0, 20.008), (0.0, 20.009)]
    assert rate_limit_since(26.0, run) == pytest.approx(21.0)
    # an override by the building (20 -> 24 in a minute): ramp from the new value
    assert rate_limit_since(26.0, [(60.0, 24.0), (120.0, 20.0)]) == pytest.approx(24.0 + 60 / 900)


def test_grid_csv_with_an_unnamed_timestamp_column_is_read(tmp_path):
    """Issue 16: a grid CSV exported with its index (unnamed first column) reads the same."""
    import pandas as pd

    from apps.cooling.grid import load_grid
    from core.errors import DataError

    src = DATA / "grid" / "NYIS_NG_avgCI_2022.csv.gz"
    weather = read_weather(DATA / "weather" / "USA_NY_New.York-Kennedy.epw.gz")
    frame = pd.read_csv(src).set_index("timestamp")
    frame.index.name = None
    unnamed = tmp_path / "NYIS_NG_avgCI_2022.csv"
    frame.to_csv(unnamed)
    assert unnamed.read_text().startswith(",")
    a, b = load_grid(src, weather), load_grid(unnamed, weather)
    np.testing.assert_array_equal(a.ci_avg_g_per_kwh, b.ci_avg_g_per_kwh)
    np.testing.assert_array_equal(a.ci_marginal_g_per_kwh, b.ci_marginal_g_per_kwh)
    bad = tmp_path / "bad" / "NYIS_NG_avgCI_2022.csv"
    bad.parent.mkdir()
    frame.reset_index(drop=True).to_csv(bad)  # an unnamed column of row numbers
    with pytest.raises(DataError, match="unnamed first column"):
        load_grid(bad, weather)


def test_tank_charges_within_its_limits_and_keeps_energy():
    from apps.cooling.storage import Tank, TankParams

    tank = Tank(TankParams(100.0))  # 100 kWh thermal, 25 kW rate
    step = tank.step(1.0, mech_load_w_th=10_000.0, plant_capacity_w_th=60_000.0, dt_s=900.0)
    assert step.charge_w_th == pytest.approx(25_000.0)
    assert step.chiller_w_th == pytest.approx(35_000.0)
    assert tank.stored_kwh_th == pytest.approx(6.25 * (1 - 0.01 * 0.25 / 24))
    # headroom: the chiller cannot exceed the plant capacity while charging
    assert tank.step(1.0, 55_000.0, 60_000.0, 900.0).charge_w_th == pytest.approx(5_000.0)
    # discharge never exceeds the load or what is stored
    stored = tank.stored_kwh_th
    d = tank.step(-1.0, 2_000.0, 60_000.0, 900.0)
    assert d.discharge_w_th == pytest.approx(2_000.0) and d.chiller_w_th == pytest.approx(0.0)
    assert tank.stored_kwh_th < stored
    tank.reset()
    assert tank.step(-1.0, 50_000.0, 60_000.0, 900.0).discharge_w_th == 0.0  # empty


def test_storage_off_and_an_idle_tank_change_nothing():
    from apps.cooling.baselines import NaiveController
    from apps.cooling.env import CoolingEnv
    from apps.cooling.kpis import rollout
    from apps.cooling.scenario import default_train_spec

    spec = (default_train_spec("office"),)
    plain = CoolingEnv(spec, random_start=False)
    tank = CoolingEnv(spec, random_start=False, storage_kwh=200.0)
    assert plain.observation_space.shape == (24,) and plain.action_space.shape == (1,)
    assert tank.observation_space.shape == (25,) and tank.action_space.shape == (2,)
    a, _ = rollout(plain, NaiveController(plain.envelope), start_day=190, days=5)
    b, tr = rollout(tank, NaiveController(tank.envelope), start_day=190, days=5)  # tank idle
    assert {k: v for k, v in a.to_dict().items() if k != "compute_time_ratio"} == \
        {k: v for k, v in b.to_dict().items() if k != "compute_time_ratio"}
    assert tr.soc.max() == 0.0


def test_carbon_rule_uses_the_tank_and_cuts_co2():
    from apps.cooling.baselines import CarbonRuleController
    from apps.cooling.env import CoolingEnv
    from apps.cooling.kpis import rollout
    from apps.cooling.scenario import held_out_specs

    spec = held_out_specs("office")[:1]
    kpis = {}
    for kwh in (0.0, 200.0):
        env = CoolingEnv(spec, random_start=False, storage_kwh=kwh)
        kpis[kwh], tr = rollout(env, CarbonRuleController(env.envelope), start_day=190, days=14)
    assert tr.soc.max() > 0.5  # it charges
    assert kpis[200.0].co2_kg_per_m2 < kpis[0.0].co2_kg_per_m2
    assert kpis[200.0].discomfort_kh <= kpis[0.0].discomfort_kh + 0.05


def test_env_with_a_tank_and_random_dr_passes_check_env():
    from gymnasium.utils.env_checker import check_env

    from apps.cooling.env import CoolingEnv
    from apps.cooling.scenario import default_train_spec

    env = CoolingEnv((default_train_spec("office"),), storage_kwh=150.0, random_dr=True,
                     episode_days=14)
    check_env(env, skip_render_check=True)
    events = 0.0
    for seed in range(4):
        env.reset(seed=seed)
        events += env.dr_event[env.k:env.k_end].sum()
    assert events > 0  # random events land in training episodes


def _event_day(env, tank_at_event_kwh_th: float | None):
    """Run naive through the first scheduled event day; the tank holds ``tank_at_event_kwh_th``
    when the event starts (None: what the layer charged by then). Per event step: (within the
    limit, setpoint degC), and the state of charge the event started with."""
    from apps.cooling.baselines import NaiveController

    sc, sph = env.sc, env.sc.steps_per_hour
    day = int(np.flatnonzero(sc.dr_event)[0] // (24 * sph))
    env.episode_days = 1
    obs, _ = env.reset(seed=0, options={"scenario": 0, "start_day": day})
    naive, rows, done, soc_at_start = NaiveController(env.envelope), [], False, None
    while not done:
        if soc_at_start is None and env.dr_event[env.k]:
            if tank_at_event_kwh_th is not None:
                env.tank.stored_kwh_th = tank_at_event_kwh_th
            soc_at_start = env.tank.soc
        obs, _, _, done, info = env.step(np.array([naive.act(obs, env.control_state())], np.float32))
        if info["dr_event_h"] > 0:
            rows.append((info["dr_within_h"] == info["dr_event_h"], info["setpoint_c"]))
    return rows, soc_at_start


def test_dr_layer_prepares_and_discharges_the_tank_first_then_relaxes_the_setpoint():
    """With a tank, every controller's event days go through the same layer: the tank is filled
    by the event's start (naive never charges it itself) and holds the import within the limit
    at naive's own 23 degC; a tank emptied at the start cannot, so the setpoint is relaxed toward
    the 26 degC comfort edge (rate-limited), never beyond it, and the tank is not charged."""
    from apps.cooling.env import CoolingEnv

    env = CoolingEnv(random_start=False, storage_kwh=200.0)
    full, soc = _event_day(env, None)
    assert soc == pytest.approx(1.0, abs=0.02)
    assert len(full) == 4 and all(ok for ok, _ in full)  # 14-18 h, hourly control steps
    assert all(sp == pytest.approx(23.0) for _, sp in full)
    empty, _ = _event_day(env, 0.0)
    assert max(sp for _, sp in empty) == pytest.approx(26.0) and empty[0][1] > 23.0
    assert env.tank.soc == 0.0  # never charged during the event


def test_dr_layer_holds_a_data_hall_event_at_the_least_import_inlet_not_the_warm_edge():
    """In the data hall the server fans draw more above 24 degC inlet. With the full tank
    carrying the chiller's load, what is left (CRAH fans, pumps, server fans) exceeds the
    40 W/m2 limit while holding the carbon rule's 26 degC inlet edge, and relaxing toward the
    27 degC comfort edge only adds server-fan power. The layer moves the setpoint toward the
    plant's least-import inlet instead (starting in the hour before the event, since cooling
    down is rate-limited) and every event step stays within the limit."""
    from apps.cooling.baselines import CarbonRuleController, CarbonRuleParams
    from apps.cooling.env import CoolingEnv
    from apps.cooling.kpis import rollout
    from apps.cooling.scenario import held_out_specs

    env = CoolingEnv(held_out_specs("datahall")[:1], building="datahall", random_start=False,
                     storage_kwh=2000.0)  # Dallas + MISO
    day = int(np.flatnonzero(env.sc.dr_event)[0] // (24 * env.sc.steps_per_hour))
    rule = CarbonRuleController(env.envelope, CarbonRuleParams(
        low_quantile=0.33, high_quantile=0.67, edge_c=26.0, precool_c=25.0, precool_hours=0))
    kpis, tr = rollout(env, rule, start_day=day, days=1)
    assert kpis.dr_event_h == 4.0
    assert kpis.dr_within_limit_share == 1.0
    event = tr.dr_event > 0
    inlet_c = tr.setpoint_c[event] + env.envelope.temp_offset_k
    assert inlet_c.max() <= 25.0 and tr.temp_c[event].max() <= 25.5  # not relaxed to 27 degC
    assert kpis.discomfort_kh == 0.0
