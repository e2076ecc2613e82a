"""REST contract of the cooling BMS/grid endpoints, including bad inputs (no trained agent:
recommendations come from the rule-based fallback, which still goes through clamp/rate limit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.pg_cluster import BACKENDS

SITE, ZONE = "hq", "floor-3"
# Cooling state lives in the ledger's database: every test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)


@pytest.fixture()
def client(ctx):
    from apps.api.server import create_app
    from apps.settings import Settings

    app = create_app(Settings(open_reads=True), ctx=ctx)
    key = app.state.key_store.create(["control"], name="bms").token
    with TestClient(app) as c:
        c.headers.update({"Authorization": f"Bearer {key}"})
        yield c


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _telemetry(client, temp=25.0, ts=None, **extra):
    points = {"Zone_Air_Temperature_Sensor": temp, "Outside_Air_Temperature_Sensor": 33.0,
              "Occupancy_Sensor": 1, **extra}
    return client.post(f"/v1/cooling/sites/{SITE}/telemetry",
                       json={"zone": ZONE, "timestamp": ts or _now(), "points": points})


def test_writes_need_a_control_key(ctx):
    from apps.api.server import create_app
    from apps.settings import Settings

    app = create_app(Settings(open_reads=True), ctx=ctx)
    with TestClient(app) as c:
        r = c.post(f"/v1/cooling/sites/{SITE}/telemetry",
                   json={"zone": ZONE, "timestamp": _now(), "points": {"Occupancy_Sensor": 1}})
        assert r.status_code == 401
        read_key = app.state.key_store.create(["read"]).token
        r = c.post("/v1/cooling/signals", headers={"Authorization": f"Bearer {read_key}"},
                   json={"programID": "p", "intervals": []})
        assert r.status_code == 403


@pytest.mark.parametrize("points", [
    {"Zone_Air_Temperature_Sensor": 80.0},           # out of range
    {"Mystery_Point": 1.0},                          # unknown name
    {},                                              # empty
])
def test_bad_telemetry_is_422(client, points):
    r = client.post(f"/v1/cooling/sites/{SITE}/telemetry",
                    json={"zone": ZONE, "timestamp": _now(), "points": points})
    assert r.status_code == 422


def test_nan_is_400_and_malformed_json_is_422(client):
    headers = {"content-type": "application/json"}
    nan = ('{"zone": "z", "timestamp": "' + _now()
           + '", "points": {"Zone_Air_Temperature_Sensor": NaN}}')
    r = client.post(f"/v1/cooling/sites/{SITE}/telemetry", content=nan, headers=headers)
    assert r.status_code == 422  # the JSON body guard refuses NaN before routing
    assert "NaN" in r.text
    r = client.post(f"/v1/cooling/sites/{SITE}/telemetry", content="{not json", headers=headers)
    assert r.status_code == 422


def test_naive_or_future_timestamp_is_422(client):
    assert _telemetry(client, ts="2026-07-01T12:00:00").status_code == 422
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert _telemetry(client, ts=future).status_code == 422


def test_haystack_names_are_accepted(client):
    r = client.post(f"/v1/cooling/sites/{SITE}/telemetry", json={
        "zone": ZONE, "timestamp": _now(), "points": {"zone air temp sensor": 24.0}})
    assert r.status_code == 201 and r.json()["stored_points"] == 1


def test_no_telemetry_means_relinquish(client):
    r = client.get(f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation")
    assert r.status_code == 200
    body = r.json()
    assert body["action"] == "relinquish" and body["setpoint_c"] is None and body["reason"]


def test_recommendation_is_clamped_rate_limited_and_expires(client):
    assert _telemetry(client, temp=25.0, Zone_Air_Temperature_Setpoint=21.0).status_code == 201
    body = client.get(f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation").json()
    assert body["action"] == "write"
    assert 20.0 <= body["setpoint_c"] <= 30.0
    assert abs(body["setpoint_c"] - 21.0) <= 1.0 + 1e-9  # from the current setpoint, <= 1 K
    assert body["bacnet_priority"] == 12
    valid = datetime.fromisoformat(body["valid_until"]) - datetime.fromisoformat(body["valid_from"])
    assert valid == timedelta(minutes=15)
    assert {"kwh", "kgco2", "baseline_kwh", "baseline_kgco2"} <= set(body["expected"])
    second = client.get(f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation",
                        params={"utc_offset_h": -6}).json()
    assert abs(second["setpoint_c"] - body["setpoint_c"]) <= 1.0 + 1e-9


def test_bad_offset_is_422(client):
    r = client.get(f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation",
                   params={"utc_offset_h": 30})
    assert r.status_code == 422


def test_wild_zone_temperature_relinquishes(client):
    assert _telemetry(client, temp=45.0).status_code == 201
    body = client.get(f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation").json()
    assert body["action"] == "relinquish"


def test_signals_roundtrip_and_bad_signals(client):
    start = datetime.now(UTC) - timedelta(minutes=5)
    event = {"programID": "utility-ghg", "eventName": "evening peak",
             "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
             "intervals": [{"id": 0, "payloads": [{"type": "GHG", "values": [612.0]}]},
                           {"id": 1, "intervalPeriod": {"start": start.isoformat(), "duration": "PT30M"},
                            "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [5.0]}]}]}
    r = client.post("/v1/cooling/signals", json=event)
    assert r.status_code == 201 and r.json()["payloads_stored"] == 2
    active = client.get("/v1/cooling/signals/active").json()["signals"]
    assert {s["type"] for s in active} == {"GHG", "IMPORT_CAPACITY_LIMIT"}
    bad = dict(event, intervals=[{"id": 0, "payloads": [{"type": "WEATHER", "values": [1.0]}]}])
    assert client.post("/v1/cooling/signals", json=bad).status_code == 422
    bad = dict(event, intervalPeriod={"start": start.isoformat(), "duration": "one hour"})
    assert client.post("/v1/cooling/signals", json=bad).status_code == 422
    no_period = {"programID": "x", "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.3]}]}]}
    assert client.post("/v1/cooling/signals", json=no_period).status_code == 422


def test_savings_report(client):
    _telemetry(client, temp=25.5)
    assert client.post(f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation").status_code == 201
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = client.get(f"/v1/cooling/sites/{SITE}/reports/savings", params={"from": start, "to": end})
    assert r.status_code == 200
    body = r.json()
    assert body["recommendations"] == 1 and "modelled" in body["method"]
    r = client.get(f"/v1/cooling/sites/{SITE}/reports/savings", params={"from": end, "to": start})
    assert r.status_code == 422


def test_state_is_shared_across_service_instances(ctx):
    """A second worker (new service on the same ledger database) sees telemetry and signals."""
    from apps.cooling.bms import BmsService
    from apps.cooling.schemas import TelemetryIn

    a = BmsService(ctx, card_path=ctx.models_dir / "none.json")
    a.ingest(SITE, TelemetryIn(zone=ZONE, timestamp=datetime.now(UTC),
                               points={"Zone_Air_Temperature_Sensor": 24.0}))
    b = BmsService(ctx, card_path=ctx.models_dir / "none.json")
    assert b.latest(SITE, ZONE)["Zone_Air_Temperature_Sensor"][0] == 24.0


REC = f"/v1/cooling/sites/{SITE}/zones/{ZONE}/recommendation"


def _within_limit(setpoints, start_c, started):
    """Every setpoint within 1 K per 900 s of real time since ``started`` (+ the 0.01 K the
    response rounds to)."""
    reach = (datetime.now(UTC) - started).total_seconds() / 900.0
    return max(abs(sp - start_c) for sp in setpoints) <= reach + 0.005


def test_six_reads_in_a_second_do_not_walk_the_setpoint(client):
    """Issue 12 defect 2: six GETs after telemetry at 20 degC used to return 21, 22, ..., 26."""
    started = datetime.now(UTC)
    assert _telemetry(client, temp=25.0, Zone_Air_Temperature_Setpoint=20.0).status_code == 201
    bodies = [client.get(REC).json() for _ in range(6)]
    assert all(b["action"] == "write" and b["policy_target_c"] >= 22.0 for b in bodies)
    assert _within_limit([b["setpoint_c"] for b in bodies], 20.0, started)


def test_six_issues_in_a_second_move_by_at_most_the_limit(client):
    """Issued recommendations are the rate limit's reference, on real elapsed time."""
    started = datetime.now(UTC)
    assert _telemetry(client, temp=25.0, Zone_Air_Temperature_Setpoint=20.0).status_code == 201
    bodies = [client.post(REC) for _ in range(6)]
    assert all(b.status_code == 201 and b.json()["issued"] for b in bodies)
    assert _within_limit([b.json()["setpoint_c"] for b in bodies], 20.0, started)


def test_a_read_records_nothing(client, ctx):
    """Issue 12 defect 3: a GET added a row that moved the rate limit and the savings report."""
    from sqlalchemy import func, select

    from apps.cooling.bms import recs_t

    _telemetry(client, temp=25.5)
    for _ in range(3):
        assert client.get(REC).json()["issued"] is False
    with ctx.ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(recs_t)).scalar() == 0
    window = {"from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
              "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    assert client.get(f"/v1/cooling/sites/{SITE}/reports/savings", params=window).json()[
        "recommendations"] == 0
    assert client.post(REC).status_code == 201
    assert client.get(f"/v1/cooling/sites/{SITE}/reports/savings", params=window).json()[
        "recommendations"] == 1


def test_issuing_needs_the_control_scope(ctx):
    from apps.api.server import create_app
    from apps.settings import Settings

    app = create_app(Settings(open_reads=True), ctx=ctx)
    with TestClient(app) as c:
        assert c.post(REC).status_code == 401
        read_key = app.state.key_store.create(["read"]).token
        assert c.post(REC, headers={"Authorization": f"Bearer {read_key}"}).status_code == 403
        assert c.get(REC).status_code == 200


def test_rate_limit_follows_real_time_between_issues(ctx):
    """Service level with explicit clocks: 1 K per 15 min of elapsed time, from the reported
    setpoint and then from each issued one."""
    from apps.cooling.bms import BmsService
    from apps.cooling.schemas import TelemetryIn

    bms = BmsService(ctx, card_path=ctx.models_dir / "none.json")
    t0 = datetime.now(UTC) - timedelta(minutes=40)
    bms.ingest(SITE, TelemetryIn(zone=ZONE, timestamp=t0, points={
        "Zone_Air_Temperature_Sensor": 25.0, "Occupancy_Sensor": 1.0,
        "Zone_Air_Temperature_Setpoint": 20.0}), now=t0)

    def fresh(t):  # temperature telemetry stays fresh; the setpoint report stays the old one
        bms.ingest(SITE, TelemetryIn(zone=ZONE, timestamp=t, points={
            "Zone_Air_Temperature_Sensor": 25.0, "Occupancy_Sensor": 1.0}), now=t)

    first = bms.issue(SITE, ZONE, now=t0 + timedelta(seconds=450))
    assert first["setpoint_c"] == pytest.approx(20.5, abs=0.005)
    assert bms.recommend(SITE, ZONE, now=t0 + timedelta(seconds=451))["setpoint_c"] == \
        pytest.approx(20.5, abs=0.005)
    fresh(t0 + timedelta(minutes=20))
    second = bms.issue(SITE, ZONE, now=t0 + timedelta(minutes=22, seconds=30))
    assert second["setpoint_c"] == pytest.approx(21.5, abs=0.005)  # 15 min after the first


def test_recommendation_honours_a_demand_response_event(client):
    """Issue 16: an active IMPORT_CAPACITY_LIMIT event holds the setpoint at the comfort edge
    (rate-limited on the way there) and the response says so."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    _telemetry(client, temp=25.0, Zone_Air_Temperature_Setpoint=25.5)
    before = client.get(REC).json()
    assert not any("demand-response" in c for c in before["constraints_applied"])
    event = {"programID": "utility-dr", "intervalPeriod": {"start": start.isoformat(),
                                                           "duration": "PT2H"},
             "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT",
                                                   "values": [5.0]}]}]}
    assert client.post("/v1/cooling/signals", json=event).status_code == 201
    body = client.get(REC).json()
    assert body["policy_target_c"] >= 26.0
    assert any("demand-response event in force (utility-dr IMPORT_CAPACITY_LIMIT 5 kW)" in c
               for c in body["constraints_applied"])
