"""Serving the policy trained with a chilled-water tank (issue 16): the tank's state of charge in
BMS telemetry, the storage policy and its charge/discharge action, the fallback without it, and
demand-response events, through the REST router and the real service."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

SITE, ZONE = "hq", "floor-3"
REC = f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation"
SOC = "Chilled_Water_Storage_State_Of_Charge_Sensor"
STORAGE_CARD = "cooling-agent-storage200-desert-held-out"


@pytest.fixture(scope="module")
def tank_agent_zip(tmp_path_factory) -> Path:
    """An untrained (deterministic) PPO agent with the tank's observation and action."""
    from apps.cooling.agents import AgentConfig, build_model, make_env
    from apps.cooling.scenario import default_train_spec

    path = tmp_path_factory.mktemp("agent") / "agent.zip"
    env = make_env((default_train_spec(),), "office", storage_kwh=200.0)
    build_model(AgentConfig(algo="ppo", net_width=8), env).save(path)
    return path


@pytest.fixture()
def client(ctx, tank_agent_zip):
    """The API with a 200 kWh storage card (as `run cooling --storage 200 --split
    desert-held-out` names it) and no office card."""
    from apps.api.server import create_app
    from apps.settings import Settings
    from core.gates import ModelCard, ModelRef

    models = ctx.app_models_dir("cooling")
    shutil.copyfile(tank_agent_zip, models / f"{STORAGE_CARD}-ppo-seed0.zip")
    ModelCard(app="cooling", name="cooling-agent",
              reference=ModelRef(name="ppo-actor", path=f"{STORAGE_CARD}-ppo-seed0.zip"),
              metrics={"agent_algo": "ppo", "storage_kwh_th": 200.0},
              protocol={"plan": {"storage_kwh": 200.0, "split": "desert-held-out"},
                        "building": "office"}).save(models / f"{STORAGE_CARD}.card.json")
    app = create_app(Settings(open_reads=True), ctx=ctx)
    key = app.state.key_store.create(["control"], name="bms").token
    with TestClient(app) as c:
        c.headers.update({"Authorization": f"Bearer {key}"})
        yield c


def _telemetry(client, ts=None, **extra):
    points = {"Zone_Air_Temperature_Sensor": 25.0, "Outside_Air_Temperature_Sensor": 33.0,
              "Occupancy_Sensor": 1, "Zone_Air_Temperature_Setpoint": 25.0, **extra}
    return client.post(f"/v1/cooling/sites/{SITE}/telemetry",
                       json={"zone": ZONE, "timestamp": ts or datetime.now(UTC).isoformat(),
                             "points": points})


@pytest.mark.parametrize("soc", [1.2, -0.1])
def test_state_of_charge_outside_0_1_is_422(client, soc):
    r = _telemetry(client, **{SOC: soc})
    assert r.status_code == 422 and "fraction 0..1" in r.text and SOC in r.text


def test_nan_state_of_charge_is_refused(client, ctx):
    from apps.cooling.bms import BmsService
    from apps.cooling.schemas import TelemetryIn
    from core.errors import DataError

    nan = ('{"zone": "z", "timestamp": "' + datetime.now(UTC).isoformat()
           + '", "points": {"' + SOC + '": NaN}}')
    r = client.post(f"/v1/cooling/sites/{SITE}/telemetry", content=nan,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    bms = BmsService(ctx, card_path=ctx.models_dir / "cooling" / "cooling-agent.card.json")
    with pytest.raises(DataError, match=SOC):
        bms.ingest(SITE, TelemetryIn(zone=ZONE, timestamp=datetime.now(UTC),
                                     points={SOC: math.nan}))


def test_no_tank_declared_serves_todays_policy_without_storage(client):
    assert _telemetry(client, **{SOC: 0.5}).status_code == 201
    body = client.get(REC).json()
    assert body["storage"] is None and not body["model_version"].startswith(STORAGE_CARD)


def test_a_tank_with_its_state_of_charge_is_served_the_storage_policy(client):
    assert _telemetry(client, **{SOC: 0.4}).status_code == 201
    body = client.get(REC, params={"storage_kwh": 200}).json()
    assert body["action"] == "write"
    assert body["model_version"].startswith(f"{STORAGE_CARD}@") and "ppo-reference" in body["model_version"]
    tank = body["storage"]
    assert tank["capacity_kwh_th"] == 200.0 and tank["soc"] == 0.4 and tank["reason"] is None
    assert -1.0 <= tank["command"] <= 1.0
    assert tank["action"] == ("charge" if tank["command"] > 0 else
                              "discharge" if tank["command"] < 0 else "hold")
    assert tank["rate_kw_th"] == pytest.approx(abs(tank["command"]) * 50.0)  # 200 kWh / 4 h
    assert "not in the projection" in body["expected"]["method"]
    issued = client.post(REC, params={"storage_kwh": 200})
    assert issued.status_code == 201 and issued.json()["storage"]["command"] == tank["command"]


def test_without_a_state_of_charge_the_policy_without_the_tank_is_served_and_says_why(client):
    stale = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
    assert _telemetry(client, ts=stale, **{SOC: 0.4}).status_code == 201
    assert _telemetry(client).status_code == 201  # fresh zone data, no fresh state of charge
    body = client.get(REC, params={"storage_kwh": 200}).json()
    assert body["action"] == "write" and not body["model_version"].startswith(STORAGE_CARD)
    tank = body["storage"]
    assert tank["action"] == "relinquish" and tank["command"] is None
    assert SOC in tank["reason"] and "last 30 min" in tank["reason"]
    assert any(c.startswith("served without the tank") for c in body["constraints_applied"])


def test_a_tank_size_without_a_trained_policy_falls_back_and_names_the_cards(client):
    assert _telemetry(client, **{SOC: 0.4}).status_code == 201
    tank = client.get(REC, params={"storage_kwh": 150}).json()["storage"]
    assert tank["action"] == "relinquish"
    assert "150 kWh" in tank["reason"] and f"{STORAGE_CARD}.card.json" in tank["reason"]
    assert "--storage 150" in tank["reason"]


def test_bad_tank_size_is_422(client):
    assert client.get(REC, params={"storage_kwh": -5}).status_code == 422
    assert client.get(REC, params={"storage_kwh": "lots"}).status_code == 422


def test_a_demand_response_event_discharges_the_tank_first_and_says_so(client):
    assert _telemetry(client, **{SOC: 0.6}).status_code == 201
    start = datetime.now(UTC) - timedelta(minutes=5)
    event = {"programID": "utility-dr",
             "intervalPeriod": {"start": start.isoformat(), "duration": "PT2H"},
             "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT",
                                                   "values": [5.0]}]}]}
    assert client.post("/v1/cooling/signals", json=event).status_code == 201
    body = client.get(REC, params={"storage_kwh": 200}).json()
    assert body["storage"]["action"] == "discharge" and body["storage"]["command"] == -1.0
    assert body["storage"]["rate_kw_th"] == pytest.approx(50.0)
    assert body["policy_target_c"] >= 26.0
    assert any("demand-response event in force (utility-dr IMPORT_CAPACITY_LIMIT 5 kW): tank "
               "discharging at its full rate, then setpoint held at the comfort edge 26 degC" in c
               for c in body["constraints_applied"])


def test_an_empty_tank_is_not_charged_during_an_event(client):
    assert _telemetry(client, **{SOC: 0.0}).status_code == 201
    start = datetime.now(UTC) - timedelta(minutes=5)
    event = {"programID": "utility-dr", "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
             "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1.0]}]}]}
    assert client.post("/v1/cooling/signals", json=event).status_code == 201
    body = client.get(REC, params={"storage_kwh": 200}).json()
    assert body["storage"]["action"] == "hold" and body["storage"]["command"] == 0.0
    assert any("tank empty, not charged" in c for c in body["constraints_applied"])


def test_dr_storage_command_discharges_first_and_never_charges_in_an_event():
    from apps.cooling.safety import dr_storage_command

    assert dr_storage_command(0.7, 0.5, event=False) == 0.7
    assert dr_storage_command(0.7, 0.5, event=True) == -1.0  # need unknown: full rate
    assert dr_storage_command(0.7, 0.5, event=True, needed=0.3) == -0.3
    assert dr_storage_command(-0.8, 0.5, event=True, needed=0.3) == -0.3  # the rest is kept
    assert dr_storage_command(0.7, 0.0, event=True, needed=0.3) == 0.0  # empty: hold


def test_dr_prepare_command_fills_the_tank_by_the_event_and_never_discharges():
    from apps.cooling.safety import dr_prepare_command

    assert dr_prepare_command(-1.0, 0.5, hours_to_event=8.0, hours_to_full=4.0) == 0.25
    assert dr_prepare_command(0.9, 0.5, hours_to_event=8.0, hours_to_full=4.0) == 0.9
    assert dr_prepare_command(-0.2, 0.0, hours_to_event=2.0, hours_to_full=4.0) == 1.0
    assert dr_prepare_command(-0.2, 1.0, hours_to_event=2.0, hours_to_full=4.0) == 0.0


def test_an_announced_event_fills_the_tank_by_its_start(client):
    assert _telemetry(client, **{SOC: 0.5}).status_code == 201
    start = datetime.now(UTC) + timedelta(hours=2)
    event = {"programID": "utility-dr", "intervalPeriod": {"start": start.isoformat(), "duration": "PT4H"},
             "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [5.0]}]}]}
    assert client.post("/v1/cooling/signals", json=event).status_code == 201
    body = client.get(REC, params={"storage_kwh": 200}).json()
    # half of 200 kWh in 2 h is the full 50 kW rate
    assert body["storage"]["action"] == "charge" and body["storage"]["command"] == 1.0
    assert any(c.startswith("demand-response event announced from") for c in body["constraints_applied"])
