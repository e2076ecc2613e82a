"""`greenstack serve --workers 2` on a real PostgreSQL ledger, as a shared deployment runs it.

A throwaway cluster (``tests/pg_cluster.py``) holds a fresh database; the CLI creates a key in
it, two uvicorn workers open it at once and answer concurrent first requests (both race to
create the cooling tables), cooling state written through one worker is read through the other
(an issued setpoint rate-limits the next one, whichever worker issues it), the impact report
comes from PostgreSQL, and the database refuses UPDATE/DELETE/TRUNCATE on the ledger tables the
server created.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.e2e_stack import (
    create_key,
    free_port,
    seed_ledger,
    stack_env,
    start_cli_serve,
    stop,
    wait_http,
)

pytestmark = pytest.mark.e2e

SITE = "hq"


def _telemetry(zone: str, temp_c: float) -> dict:
    return {"zone": zone, "timestamp": datetime.now(UTC).isoformat(),
            "points": {"Zone_Air_Temperature_Sensor": temp_c, "Occupancy_Sensor": 1,
                       "Outside_Air_Temperature_Sensor": 31.0,
                       "Zone_Air_Temperature_Setpoint": 21.0}}


def test_two_workers_share_a_postgresql_ledger(tmp_path: Path, pg_url: str) -> None:
    seed_ledger(pg_url)  # 8 measured footprints and 2 labelled savings for two apps
    env = stack_env(tmp_path, pg_url)
    env["GREENSTACK_OPEN_READS"] = "false"
    token = create_key(env, "control", "pg-e2e")

    port = free_port()
    log_path = tmp_path / "serve.log"
    proc = start_cli_serve(env, port, log_path)
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": token}
    try:
        wait_http(f"{base}/health", proc, log_path)
        zones = [f"z{i}" for i in range(16)]

        def first_contact(zone: str) -> tuple[int, int, float | None]:
            with httpx.Client(base_url=base, timeout=60, headers=headers) as c:
                posted = c.post(f"/v1/cooling/sites/{SITE}/telemetry", json=_telemetry(zone, 24.5))
                issued = c.post(f"/v1/cooling/sites/{SITE}/zones/{zone}/recommendation")
                return posted.status_code, issued.status_code, issued.json().get("setpoint_c")

        # Fresh connections in parallel: both workers meet the cooling tables for the first time.
        with ThreadPoolExecutor(max_workers=8) as pool:
            first = list(pool.map(first_contact, zones))
        assert [f[:2] for f in first] == [(201, 201)] * len(zones), (
            first, log_path.read_text(errors="replace")[-3000:])

        with httpx.Client(base_url=base, timeout=60, headers=headers) as c:
            health = c.get("/health").json()
            assert health["ledger"] == {"reachable": True, "backend": "postgresql", "error": None}
            # Every worker sees every zone's state: each new connection may land on either, and a
            # second issue seconds after the first moves by at most seconds' worth of 1 K/15 min.
            for zone, (_, _, setpoint) in zip(zones, first, strict=True):
                with httpx.Client(base_url=base, timeout=60, headers=headers) as fresh:
                    url = f"/v1/cooling/sites/{SITE}/zones/{zone}/recommendation"
                    body = fresh.post(url).json()
                    assert body["action"] == "write", body
                    assert abs(body["setpoint_c"] - setpoint) <= 0.1, (setpoint, body)
            impact = c.get("/v1/impact").json()
            assert set(impact["apps"]) == {"maintenance", "cooling"} and not impact["empty"]
            assert c.get("/v1/impact", headers={"X-API-Key": token + "x"}).status_code == 401
    finally:
        stop(proc)
    log = log_path.read_text(errors="replace")
    assert log.count("Started server process") == 2, log[-3000:]  # two workers really ran
    assert "Traceback" not in log, log[-3000:]

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            stored_zones = conn.execute(sa.text(
                "SELECT count(DISTINCT zone) FROM cooling_telemetry WHERE site = :s"), {"s": SITE}
            ).scalar()
            assert stored_zones == len(zones)
            issued = conn.execute(sa.text("SELECT count(*) FROM cooling_recommendations")).scalar()
            assert issued == 2 * len(zones)
            assert conn.execute(sa.text("SELECT count(*) FROM footprints")).scalar() == 8
        for sql in ("UPDATE footprints SET co2e_kg = 0", "DELETE FROM savings",
                    "TRUNCATE footprints"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(sql))
    finally:
        engine.dispose()
