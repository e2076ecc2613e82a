"""BMS / grid serving: telemetry, recommendations, OpenADR-3-shaped signals, savings reports.

State lives in three tables of the ledger's database (``ctx.ledger.engine``), so every server
worker sees the same telemetry, signals and last recommendation (rate limits hold across
workers). Reading a recommendation (GET) records nothing; issuing one (POST, ``control`` scope)
records it, and only issued ones start the next rate-limit step and count in the savings report.
Recommendations are clamped to the envelope, move at most 1 K per 15 minutes of real time since
the setpoint the zone last reported or was last issued, expire after 15 minutes, and fall back to "relinquish" (let the BMS's own schedule rule) when the
zone's telemetry is stale or the state is outside what the policy was trained on. A zone that
declares a chilled-water tank (``storage_kwh``) and reports its state of charge is served the
policy trained with that tank, with a charge/discharge action; otherwise the reason is stated.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    insert,
    select,
)

from apps.cooling.card import card_path_for
from apps.cooling.env import build_observation
from apps.cooling.grid import tou_price
from apps.cooling.safety import (
    OFFICE_ENVELOPE,
    action_to_setpoint,
    clamp,
    dr_prepare_command,
    dr_storage_command,
    rate_limit_since,
)
from apps.cooling.scenario import SPLITS
from apps.cooling.schemas import (
    STORAGE_SOC_POINT,
    SignalEventIn,
    TelemetryIn,
    parse_duration,
    validate_points,
)
from apps.cooling.storage import HOURS_TO_FULL, TankParams
from core.errors import ConfigError, DataError
from core.ledger import create_tables

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=30)
VALID_FOR = timedelta(minutes=15)
SETPOINT_MEMORY = timedelta(hours=1)  # setpoints older than this no longer bound the next one
BACNET_PRIORITY = 12  # ASHRAE 135 priority array: below life safety (1-2), critical equipment
# (5), minimum on/off (6) and manual operator (8), so an operator override always wins.
SETPOINT_POINT = "Zone_Air_Temperature_Setpoint"
MAX_STORAGE_KWH = 1e6  # kWh thermal, as `cooling evaluate --storage`

_meta = MetaData()
telemetry_t = Table("cooling_telemetry", _meta, Column("id", Integer, primary_key=True),
                    Column("site", String(64), index=True), Column("zone", String(64), index=True),
                    Column("point", String(64)), Column("value", Float),
                    Column("ts", DateTime(timezone=True), index=True))
signals_t = Table("cooling_signals", _meta, Column("id", Integer, primary_key=True),
                  Column("event_id", String(40), index=True), Column("program_id", String(64)),
                  Column("type", String(32)), Column("value", Float),
                  Column("start", DateTime(timezone=True)), Column("end", DateTime(timezone=True)))
recs_t = Table("cooling_recommendations", _meta, Column("id", Integer, primary_key=True),
               Column("site", String(64), index=True), Column("zone", String(64)),
               Column("action", String(16)), Column("setpoint_c", Float, nullable=True),
               Column("issued", DateTime(timezone=True), index=True),
               Column("valid_until", DateTime(timezone=True)), Column("kwh", Float),
               Column("kg", Float), Column("baseline_kwh", Float), Column("baseline_kg", Float),
               Column("model_version", String(96)))


def _n_actions(policy: Any) -> int:
    """How many action values a served policy gives (2: setpoint and tank)."""
    if hasattr(policy, "w2"):  # the compact NumpyPolicy
        return int(policy.w2.shape[1])
    model = getattr(policy, "model", None)  # an AgentController
    return int(model.action_space.shape[0]) if model is not None else 1


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


class BmsService:
    """Telemetry in, recommendations out; see module doc."""

    def __init__(self, ctx: Any, card_path: Path) -> None:
        self.ctx, self.card_path = ctx, card_path
        self.engine = ctx.ledger.engine
        create_tables(self.engine, _meta)  # safe when several server workers start at once
        self.envelope = OFFICE_ENVELOPE
        self._policies: dict[Path, tuple[Any, str, float | None]] = {}  # card -> policy, version, mtime

    # -- telemetry ------------------------------------------------------------------------
    def ingest(self, site: str, body: TelemetryIn, now: datetime | None = None) -> dict[str, Any]:
        """Store validated points; future (> 5 min) or day-old timestamps are refused."""
        now, ts = _utc(now or datetime.now(UTC)), _utc(body.timestamp)
        if ts > now + timedelta(minutes=5) or ts < now - timedelta(days=1):
            raise DataError(f"timestamp {ts.isoformat()} is more than 5 min ahead of or a day "
                            f"behind server time {now.isoformat()}; check the BMS clock")
        rows = [{"site": site, "zone": body.zone, "point": p, "value": v, "ts": ts}
                for p, v in validate_points(body.points).items()]
        with self.engine.begin() as conn:
            conn.execute(insert(telemetry_t), rows)
        return {"site": site, "zone": body.zone, "stored_points": len(rows), "timestamp": ts}

    def latest(self, site: str, zone: str) -> dict[str, tuple[float, datetime]]:
        """Most recent value and time of each point of a zone."""
        q = (select(telemetry_t.c.point, telemetry_t.c.value, telemetry_t.c.ts)
             .where(and_(telemetry_t.c.site == site, telemetry_t.c.zone == zone))
             .order_by(telemetry_t.c.ts.desc()).limit(200))
        out: dict[str, tuple[float, datetime]] = {}
        with self.engine.connect() as conn:
            for point, value, ts in conn.execute(q):
                out.setdefault(point, (value, _utc(ts)))
        return out

    # -- signals --------------------------------------------------------------------------
    def add_signal(self, event: SignalEventIn) -> dict[str, Any]:
        """Store each interval payload of an OpenADR-3-shaped event; returns its id."""
        event_id = uuid.uuid4().hex[:16]
        rows = []
        for iv in event.intervals:
            period = iv.intervalPeriod or event.intervalPeriod
            if period is None:
                raise DataError(f"interval {iv.id} has no intervalPeriod and the event has none")
            start = _utc(period.start)
            end = start + parse_duration(period.duration)
            rows += [{"event_id": event_id, "program_id": event.programID, "type": p.type,
                      "value": p.values[0], "start": start, "end": end} for p in iv.payloads]
        with self.engine.begin() as conn:
            conn.execute(insert(signals_t), rows)
        return {"id": event_id, "program_id": event.programID, "payloads_stored": len(rows)}

    def active_signals(self, at: datetime | None = None, until: datetime | None = None) -> list[dict]:
        """Signals whose interval covers ``at`` (or overlaps [at, until))."""
        at = _utc(at or datetime.now(UTC))
        until = _utc(until) if until else at + timedelta(microseconds=1)
        q = select(signals_t).where(and_(signals_t.c.start < until, signals_t.c.end > at))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q.order_by(signals_t.c.start))]
        for r in rows:
            r.pop("id", None)
            r["start"], r["end"] = _utc(r["start"]), _utc(r["end"])
        return rows

    # -- recommendation -------------------------------------------------------------------
    def recommend(self, site: str, zone: str, now: datetime | None = None,
                  utc_offset_h: float = 0.0, storage_kwh: float = 0.0) -> dict[str, Any]:
        """What would be issued now: a setpoint for the next 15 minutes, or "relinquish" with the
        reason. A read: it records nothing, so it moves neither the rate limit nor the savings
        report (:meth:`issue` is the write a building acts on).

        ``utc_offset_h``: the site's local standard time minus UTC (the policy's time features
        and the TOU tariff use local time, as in training). ``storage_kwh``: the zone's plant has
        a chilled-water tank of that capacity (kWh thermal; 0: none); the policy trained with that
        tank is served when its card exists and the tank's state of charge is in the last 30 min
        of telemetry, and the response's ``storage`` says what the tank should do (or why the
        policy without the tank is served)."""
        return self._decide(site, zone, _utc(now or datetime.now(UTC)), utc_offset_h,
                            storage_kwh)[0]

    def issue(self, site: str, zone: str, now: datetime | None = None,
              utc_offset_h: float = 0.0, storage_kwh: float = 0.0) -> dict[str, Any]:
        """Decide as :meth:`recommend` and record the decision: the setpoint the building is
        told to write, the start of the next rate-limit step and a row of the savings report."""
        body, row = self._decide(site, zone, _utc(now or datetime.now(UTC)), utc_offset_h,
                                 storage_kwh)
        with self.engine.begin() as conn:
            conn.execute(insert(recs_t), [row])
        return {**body, "issued": True}

    def _decide(self, site: str, zone: str, now: datetime, utc_offset_h: float,
                storage_kwh: float = 0.0) -> tuple[dict[str, Any], dict[str, Any]]:
        """(response body, row to record if issued)."""
        from apps.cooling.bms_model import project_hour

        if not -12.0 <= utc_offset_h <= 14.0:
            raise DataError("utc_offset_h must be between -12 and 14 hours")
        if not (math.isfinite(storage_kwh) and 0.0 <= storage_kwh <= MAX_STORAGE_KWH):
            raise DataError(f"storage_kwh must be between 0 (no tank) and {MAX_STORAGE_KWH:g} kWh "
                            "thermal")
        pts = self.latest(site, zone)
        temp = pts.get("Zone_Air_Temperature_Sensor")
        if temp is None or now - temp[1] > STALE_AFTER:
            return self._relinquish(site, zone, now, "no zone air temperature in the last 30 min")
        env = self.envelope
        if not env.comfort_low_c - 4.0 <= temp[0] <= env.comfort_high_c + 4.0:
            return self._relinquish(site, zone, now, f"zone at {temp[0]:.1f} degC is outside the "
                                    "range the policy was trained on; the BMS schedule rules")
        occupied = bool(pts.get("Occupancy_Sensor", (1.0, now))[0] >= 0.5)
        outdoor = pts.get("Outside_Air_Temperature_Sensor", (temp[0], now))[0]
        local = now + timedelta(hours=utc_offset_h)
        grid = self._grid_view(now, local)
        known = self.known_setpoints(site, zone, now)
        current = min(known)[1] if known else None
        policy, version, soc, without_tank = self._policy_for(pts, now, storage_kwh)
        obs = build_observation(
            hour=local.hour + local.minute / 60, day=local.timetuple().tm_yday - 1, occupied=occupied,
            occupied_next=occupied, outdoor_c=outdoor, outdoor_forecast_c=np.full(3, outdoor),
            temp_c=temp[0], setpoint_c=current if current is not None else env.reference_occupied_c,
            ci_g_per_kwh=grid["ci_now"], ci_3h_means_24h=grid["ci_24h"].reshape(8, 3).mean(axis=1),
            price_usd_per_kwh=grid["price"], dr_now=grid["dr_now"], dr_soon=grid["dr_soon"],
            envelope=env, soc=soc)
        state = {"occupied": occupied, "occupied_within_h": [occupied] * 4, "ci_now": grid["ci_now"],
                 "ci_24h": grid["ci_24h"], "dr_now": grid["dr_now"], "month": local.month}
        action = np.asarray(policy.act(obs, state), float).reshape(-1)
        target = action_to_setpoint(float(action[0]), occupied, env)
        constraints = [f"clamped to [{env.min_c}, {env.max_c}] degC"]
        storage = None
        if storage_kwh > 0 and soc is None:
            storage = {"capacity_kwh_th": storage_kwh, "action": "relinquish", "command": None,
                       "rate_kw_th": None, "soc": None, "reason": without_tank}
            constraints.append(f"served without the tank: {without_tank}")
        command = float(np.clip(action[1], -1.0, 1.0)) if soc is not None else 0.0
        if grid["dr_now"]:
            # The demand-response layer (apps.cooling.safety.dr_storage_command): the tank
            # discharges first, then the setpoint relaxes to the comfort edge. Without a plant
            # model the endpoint cannot tell whether the tank alone holds the limit, so it asks
            # for both for as long as the event lasts.
            steps = []
            if soc is not None:
                command = dr_storage_command(command, soc, event=True)
                steps.append("tank discharging at its full rate" if command < 0
                             else "tank empty, not charged")
            if target < env.comfort_high_c:
                target = env.comfort_high_c
                steps.append(f"setpoint held at the comfort edge {env.comfort_high_c:g} degC")
            if steps:
                events = ", ".join(f"{s['program_id']} {s['type']} {s['value']:g}"
                                   + (" kW" if s["type"] == "IMPORT_CAPACITY_LIMIT" else "")
                                   for s in grid["dr_events"])
                constraints.append(f"demand-response event in force ({events}): "
                                   + ", then ".join(steps) + " to shed cooling load")
        elif soc is not None and grid["dr_next_start"] is not None:
            start = grid["dr_next_start"]
            prepared = dr_prepare_command(command, soc, (start - now).total_seconds() / 3600.0,
                                          HOURS_TO_FULL)
            if prepared != command:
                constraints.append(f"demand-response event announced from {start.isoformat()}: "
                                   "tank filling by its start, not discharged")
            command = prepared
        if soc is not None:
            command = round(command, 2)
            storage = {"capacity_kwh_th": storage_kwh,
                       "action": "charge" if command > 0 else "discharge" if command < 0 else "hold",
                       "command": command,
                       "rate_kw_th": abs(command) * TankParams(storage_kwh).max_rate_w_th / 1000.0,
                       "soc": soc, "reason": None}
        setpoint = clamp(rate_limit_since(target, known), env)
        if not known:
            constraints.append("no setpoint reported or issued in the last hour: nothing to "
                               "rate-limit against")
        elif abs(setpoint - target) > 1e-6:
            constraints.append("rate-limited to 1 K per 15 min of real time since the last "
                               "reported or issued setpoint")
        baseline_sp = 23.0 if occupied else 28.0  # the naive baseline's schedule
        proj = project_hour(temp[0], outdoor, occupied, setpoint, baseline_sp, grid["ci_now"])
        row = {"site": site, "zone": zone, "action": "write", "setpoint_c": setpoint, "issued": now,
               "valid_until": now + VALID_FOR, "model_version": version, **proj}
        body = {
            "site": site, "zone": zone, "action": "write", "point": SETPOINT_POINT,
            "setpoint_c": round(setpoint, 2), "policy_target_c": round(target, 2), "unit": "degC",
            "valid_from": now, "valid_until": now + VALID_FOR, "bacnet_priority": BACNET_PRIORITY,
            "constraints_applied": constraints, "model_version": version, "issued": False,
            "expected": {"kwh": proj["kwh"], "kgco2": proj["kg"], "baseline_kwh": proj["baseline_kwh"],
                         "baseline_kgco2": proj["baseline_kg"], "horizon_h": 1.0,
                         "baseline": "naive 23 degC occupied / 28 degC setback",
                         "method": "modelled: ISO 13790 5R1C one-hour projection from telemetry"
                         + ("; the tank's charge/discharge is not in the projection"
                            if storage is not None else "")},
            "storage": storage,
        }
        return body, row

    def _relinquish(self, site: str, zone: str, now: datetime,
                    reason: str) -> tuple[dict[str, Any], dict[str, Any]]:
        row: dict[str, Any] = {"site": site, "zone": zone, "action": "relinquish", "setpoint_c": None, "issued": now,
               "valid_until": now + VALID_FOR, "kwh": 0.0, "kg": 0.0, "baseline_kwh": 0.0,
               "baseline_kg": 0.0, "model_version": "none"}
        body: dict[str, Any] = {"site": site, "zone": zone, "action": "relinquish", "point": SETPOINT_POINT,
                "setpoint_c": None, "valid_from": now, "valid_until": now + VALID_FOR,
                "bacnet_priority": BACNET_PRIORITY, "reason": reason, "constraints_applied": [],
                "model_version": "none", "issued": False, "expected": None}
        return body, row

    def known_setpoints(self, site: str, zone: str, now: datetime) -> list[tuple[float, float]]:
        """(seconds before ``now``, degC) of the setpoints issued to or reported by the zone in
        the last hour (what :func:`apps.cooling.safety.rate_limit_since` limits against)."""
        since = now - SETPOINT_MEMORY
        issued = (select(recs_t.c.issued, recs_t.c.setpoint_c)
                  .where(and_(recs_t.c.site == site, recs_t.c.zone == zone,
                              recs_t.c.action == "write", recs_t.c.issued >= since,
                              recs_t.c.issued <= now)))
        reported = (select(telemetry_t.c.ts, telemetry_t.c.value)
                    .where(and_(telemetry_t.c.site == site, telemetry_t.c.zone == zone,
                                telemetry_t.c.point == SETPOINT_POINT, telemetry_t.c.ts >= since,
                                telemetry_t.c.ts <= now)))
        with self.engine.connect() as conn:
            rows = [*conn.execute(issued), *conn.execute(reported)]
        return [((now - _utc(t)).total_seconds(), float(v)) for t, v in rows]

    def _grid_view(self, now: datetime, local: datetime) -> dict[str, Any]:
        """CI now and 24 h ahead (GHG signals first, else the context's source), price, DR."""
        hours = [now + timedelta(hours=h) for h in range(24)]
        sig = self.active_signals(now, now + timedelta(hours=24))
        ci = np.array([self._ci_at(t, sig) for t in hours])
        prices = [s["value"] for s in sig if s["type"] == "PRICE" and s["start"] <= now < s["end"]]
        price = prices[0] if prices else float(
            tou_price(pd.DatetimeIndex([local.replace(tzinfo=None)]))[0])
        dr = [s for s in sig if s["type"] in ("SIMPLE", "IMPORT_CAPACITY_LIMIT") and s["value"] > 0]
        later = [s["start"] for s in dr if s["start"] > now]
        return {"ci_now": float(ci[0]), "ci_24h": ci, "price": price,
                "dr_next_start": min(later) if later else None,
                "dr_now": any(s["start"] <= now < s["end"] for s in dr),
                "dr_events": [s for s in dr if s["start"] <= now < s["end"]],
                "dr_soon": any(s["start"] < now + timedelta(hours=3) for s in dr)}

    def _ci_at(self, t: datetime, sig: list[dict]) -> float:
        for s in sig:
            if s["type"] == "GHG" and s["start"] <= t < s["end"]:
                return float(s["value"])
        try:
            return float(self.ctx.carbon.intensity(at=t).g_per_kwh)
        except (ConfigError, DataError, ValueError, KeyError):
            return float(self.ctx.carbon.intensity(at=None).g_per_kwh)

    def _policy_for(self, pts: dict[str, tuple[float, datetime]], now: datetime,
                    storage_kwh: float) -> tuple[Any, str, float | None, str]:
        """(policy, model version, the tank's state of charge or None, why the policy without
        the tank is served; empty when the storage policy is). The storage policy needs the card
        of a run with that tank, its state of charge in the last 30 min and a policy with the
        tank action (the compact one if its gate passed on the eval set it would gate on now,
        else the agent: :func:`apps.cooling.bms_model.served_policy`)."""
        if storage_kwh <= 0:
            return *self._load_policy(self.card_path), None, ""
        cards = [card_path_for(self.card_path.parent, "office", storage_kwh, split) for split in SPLITS]
        card = next((c for c in cards if c.is_file()), None)
        soc = pts.get(STORAGE_SOC_POINT)
        if card is None:
            trained = sorted(p.name for p in self.card_path.parent.glob("cooling-agent-storage*.card.json"))
            why = (f"no policy is trained for a {storage_kwh:g} kWh tank (storage cards: "
                   f"{', '.join(trained) or 'none'}); run `greenstack run cooling --storage "
                   f"{storage_kwh:g}`")
        elif soc is None or now - soc[1] > STALE_AFTER:
            why = f"no tank state of charge ({STORAGE_SOC_POINT}) in the last 30 min of telemetry"
        else:
            policy, version = self._load_policy(card)
            if _n_actions(policy) == 2:
                return policy, version, soc[0], ""
            why = (f"{card.name}'s policy has no tank action (served: {version}); rerun "
                   f"`greenstack run cooling --storage {storage_kwh:g}`")
        return *self._load_policy(self.card_path), None, why

    def _load_policy(self, card_path: Path) -> tuple[Any, str]:
        """The card's served policy, reloaded when the card changes (a new pipeline run)."""
        from apps.cooling.bms_model import served_policy

        stamp = card_path.stat().st_mtime if card_path.is_file() else None
        cached = self._policies.get(card_path)
        if cached is None or cached[2] != stamp:
            cached = (*served_policy(card_path, self.envelope, self.ctx.data_dir), stamp)
            self._policies[card_path] = cached
        return cached[0], cached[1]

    # -- reports --------------------------------------------------------------------------
    def savings_report(self, site: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Expected (modelled) savings of the recommendations issued (POST) in [start, end)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            raise DataError("'to' must be after 'from'")
        q = select(recs_t).where(and_(recs_t.c.site == site, recs_t.c.issued >= start,
                                      recs_t.c.issued < end))
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        written = [r for r in rows if r["action"] == "write"]
        kwh = sum(r["baseline_kwh"] - r["kwh"] for r in written)
        kg = sum(r["baseline_kg"] - r["kg"] for r in written)
        return {"site": site, "from": start, "to": end, "recommendations": len(rows),
                "relinquished": len(rows) - len(written), "expected_kwh_saved": kwh,
                "expected_kgco2_saved": kg,
                "method": ("modelled: sum over issued recommendations of a one-hour ISO 13790 "
                           "5R1C projection, naive schedule minus recommendation; not metered"),
                "model_versions": sorted({r["model_version"] for r in written})}
