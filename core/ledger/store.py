"""The impact ledger: append-only footprints and savings over any SQLAlchemy URL.

SQLite (the default) runs in WAL mode with a busy timeout, so several processes can append at
once; the schema is created on first use. Records are never updated or deleted through this API
(and SQLite triggers refuse it for raw SQL too).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    insert,
    select,
    text,
    union,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from core.errors import DataError, LedgerError
from core.ledger import schema
from core.ledger.records import (
    COUNTERFACTUAL_ID_MAX,
    COUNTERFACTUAL_ID_PATTERN,
    PHASES,
    FootprintRecord,
    SavingRecord,
    counterfactual_slug,
)
from core.units import co2e_kg

if TYPE_CHECKING:
    from core.carbon import Intensity
    from core.energy import Measurement

log = logging.getLogger(__name__)
T = TypeVar("T")
_SCHEMA_RETRIES = 10  # concurrent first opens of a new database
_LOCK_RETRIES = 5  # on top of the busy timeout, for "database is locked" at BEGIN


class Ledger:
    """Append-only store of footprints and savings. ``Ledger("sqlite:///path/greenstack.db")``.

    ``engine`` is public so a surface can keep its own tables (e.g. hashed API keys) in the same
    database. ``busy_timeout_s``: how long a SQLite writer waits for the lock.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url, busy_timeout_s)
        self._run(self._init_schema, "open")

    # -- writing ---------------------------------------------------------------------------------
    def record_footprint(
        self,
        *,
        app: str,
        run_id: str,
        phase: str,
        measurement: Measurement,
        intensity: Intensity,
        pue: float = 1.0,
        notes: str = "",
        record_id: str | None = None,
    ) -> FootprintRecord:
        """Append one footprint: kgCO2e = measured kWh × ``pue`` × intensity. Returns it as stored.

        ``record_id``: a unique id chosen in advance (an aggregate announces it to the requests
        it sums before it is written); a fresh one by default.
        """
        _check_ids(app, run_id)
        if phase not in PHASES:
            raise DataError(f"phase {phase!r} is not one of {PHASES}")
        if not math.isfinite(pue) or pue < 1.0:
            raise DataError(f"pue must be >= 1.0 (got {pue}); 1.0 means IT energy only")
        energy_j = float(measurement.energy_j)
        if not math.isfinite(energy_j) or energy_j < 0:
            raise DataError(f"measurement {measurement.name!r} has energy {energy_j} J; refusing it")
        row = {
            **_new_ids(), **({"record_id": record_id} if record_id else {}),
            "app": app, "run_id": run_id, "phase": phase, "name": measurement.name,
            "unit": measurement.unit, "count": int(measurement.count),
            "start_unix_s": measurement.start_unix_s, "wall_s": measurement.wall_s,
            "cpu_s": measurement.cpu_s, "energy_j": energy_j,
            "components_json": json.dumps([c.to_dict() for c in measurement.components]),
            "method": measurement.method, "scope": measurement.scope,
            "uncertainty_rel": measurement.uncertainty_rel,
            "utilisation": measurement.utilisation,
            "measurement_notes_json": json.dumps(list(measurement.notes)),
            **_intensity_columns(intensity),
            "pue": pue, "co2e_kg": co2e_kg(energy_j, intensity.g_per_kwh, pue), "notes": notes,
        }  # fmt: skip
        row_id = self._insert(schema.footprints, row)
        return FootprintRecord(id=row_id, **row)

    def record_saving(
        self,
        *,
        app: str,
        run_id: str,
        kind: str,
        counterfactual_id: str | None = None,
        co2e_kg: float,
        co2e_kg_low: float | None = None,
        co2e_kg_high: float | None = None,
        energy_kwh: float | None = None,
        baseline: str,
        method: str,
        assumptions: Mapping[str, Any] | None = None,
        period_days: float | None = None,
        notes: str = "",
    ) -> SavingRecord:
        """Append one saving (central, low, high kgCO2e) with baseline, method and assumptions.

        ``counterfactual_id`` (a slug, e.g. ``cooling-naive-setpoint-office``) names what the
        saving is measured against; core.impact counts the latest estimate per (app, kind, id),
        and ``baseline`` describes it in words. None derives it from ``baseline``
        (:func:`counterfactual_slug`), which is how records from before ids were read.
        Low/high default to the central value (no range stated; say so in ``notes``).
        ``period_days``: the span the saving accrues over, used for payback time.
        """
        _check_ids(app, run_id)
        low = co2e_kg if co2e_kg_low is None else co2e_kg_low
        high = co2e_kg if co2e_kg_high is None else co2e_kg_high
        _check_saving(kind, co2e_kg, low, high, energy_kwh, period_days, baseline, method)
        cf_id = _checked_counterfactual_id(counterfactual_id, baseline)
        try:
            assumptions_json = json.dumps(dict(assumptions or {}), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise DataError(f"assumptions must be JSON-serialisable without NaN: {e}") from e
        row = {
            **_new_ids(),
            "app": app, "run_id": run_id, "kind": kind, "counterfactual_id": cf_id,
            "co2e_kg": float(co2e_kg),
            "co2e_kg_low": float(low), "co2e_kg_high": float(high),
            "energy_kwh": None if energy_kwh is None else float(energy_kwh),
            "baseline": baseline, "method": method, "assumptions_json": assumptions_json,
            "period_days": period_days, "notes": notes,
        }  # fmt: skip
        row_id = self._insert(schema.savings, row)
        return SavingRecord(id=row_id, **row)

    # -- reading ---------------------------------------------------------------------------------
    def footprints(
        self, app: str | None = None, phase: str | None = None, run_id: str | None = None
    ) -> list[FootprintRecord]:
        """Footprints in insertion order, optionally filtered."""
        t = schema.footprints
        query = select(t).order_by(t.c.id)
        for column, value in ((t.c.app, app), (t.c.phase, phase), (t.c.run_id, run_id)):
            if value is not None:
                query = query.where(column == value)
        rows = self._run(lambda: self._fetch(query), "read footprints from")
        return [FootprintRecord(**r) for r in rows]

    def savings(
        self, app: str | None = None, kind: str | None = None, run_id: str | None = None
    ) -> list[SavingRecord]:
        """Savings in insertion order, optionally filtered."""
        t = schema.savings
        query = select(t).order_by(t.c.id)
        for column, value in ((t.c.app, app), (t.c.kind, kind), (t.c.run_id, run_id)):
            if value is not None:
                query = query.where(column == value)
        rows = self._run(lambda: self._fetch(query), "read savings from")
        # Records from before counterfactual ids (schema version 1) read their baseline's slug.
        return [SavingRecord(**{**r, "counterfactual_id": r["counterfactual_id"]
                                or counterfactual_slug(r["baseline"])}) for r in rows]

    def apps(self) -> list[str]:
        """Apps with at least one record, sorted."""
        query = union(select(schema.footprints.c.app), select(schema.savings.c.app))
        rows = self._run(lambda: self._fetch(query), "read apps from")
        return sorted(r["app"] for r in rows)

    def export_csv(self, path: str | Path, table: str = "footprints") -> Path:
        """Write ``footprints`` (CodeCarbon-compatible columns first) or ``savings`` as CSV."""
        from core.ledger.export import write_csv

        return write_csv(self, Path(path), table)

    def export_json(self, path: str | Path) -> Path:
        """Write ``{"footprints": [...], "savings": [...]}`` as JSON."""
        from core.ledger.export import write_json

        return write_json(self, Path(path))

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Ledger({_safe_url(self.url)!r})"

    # -- internals -------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        postgres = self.engine.dialect.name == "postgresql"
        create_tables(self.engine, schema.metadata)
        with self.engine.begin() as conn:
            if postgres:  # one process at a time installs the guards and the version row
                _lock_schema(conn)
                schema.install_postgresql_guards(conn)
            elif self.engine.dialect.name == "sqlite":
                schema.install_sqlite_guards(conn)
            version = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).scalar_one_or_none()
            if version is None:
                conn.execute(
                    schema.meta.insert().prefix_with("OR IGNORE", dialect="sqlite"),
                    {"key": "schema_version", "value": str(schema.SCHEMA_VERSION)},
                )
            elif int(version) < schema.SCHEMA_VERSION:
                schema.migrate(conn, int(version))
            elif int(version) > schema.SCHEMA_VERSION:
                raise LedgerError(
                    f"ledger {_safe_url(self.url)} has schema version {version}, newer than this "
                    f"greenstack ({schema.SCHEMA_VERSION}); upgrade greenstack"
                )

    def _insert(self, table: Any, row: dict[str, Any]) -> int:
        _check_lengths(table, row)

        def write() -> int:
            with self.engine.begin() as conn:
                result = conn.execute(insert(table).values(**row))
                key = result.inserted_primary_key
                if key is None:
                    raise LedgerError(f"the database did not return an id for {table.name}")
                return int(key[0])

        return self._run(write, "write to")

    def _fetch(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _run(self, fn: Callable[[], T], action: str) -> T:
        for attempt in range(_LOCK_RETRIES + 1):
            try:
                return fn()
            except OperationalError as e:
                if "locked" in str(e) and attempt < _LOCK_RETRIES:
                    time.sleep(0.05 * (attempt + 1))  # lock held past the busy timeout: back off
                    continue
                raise _ledger_error(self.url, action, e) from e
            except (DatabaseError, SQLAlchemyError) as e:
                raise _ledger_error(self.url, action, e) from e
        raise AssertionError("unreachable")  # pragma: no cover


def create_tables(engine: Engine, metadata: MetaData, tables: list[Table] | None = None) -> None:
    """Create missing tables of ``metadata`` in the ledger's database, safely when several
    processes (server workers) open it at once. Surfaces use it for their own tables."""
    if engine.dialect.name == "postgresql":
        # DDL is transactional there: one process at a time checks and creates.
        with engine.begin() as conn:
            _lock_schema(conn)
            metadata.create_all(conn, tables=tables)
        return
    # pysqlite autocommits each CREATE, so a process opening the database while another is
    # creating it can see some tables and not others: retry until the schema is whole.
    for attempt in range(_SCHEMA_RETRIES + 1):
        try:
            metadata.create_all(engine, tables=tables)
            return
        except OperationalError as e:
            racing = "already exists" in str(e) or "no such table" in str(e)
            if not racing or attempt == _SCHEMA_RETRIES:
                raise
            time.sleep(0.02 * (attempt + 1))


def _lock_schema(conn: Connection) -> None:
    """Hold PostgreSQL's schema advisory lock until the transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": schema.PG_SCHEMA_LOCK})


def _make_engine(url: str, busy_timeout_s: float) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise LedgerError(
            f"ledger URL {url!r} is not a SQLAlchemy URL ({e}); use e.g. "
            "sqlite:///.greenstack/greenstack.db or postgresql+psycopg://user@host/db"
        ) from e
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
        # A bare postgresql:// means psycopg2 to SQLAlchemy; greenstack ships psycopg (3).
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError) as e:
            raise LedgerError(f"cannot use ledger URL {_safe_url(url)}: {e}") from e
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if in_memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LedgerError(f"cannot create the ledger directory {path.parent}: {e}") from e
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s, wal=not in_memory))
    return engine


def _sqlite_pragmas(busy_timeout_s: float, wal: bool) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
                cursor.execute("PRAGMA synchronous = NORMAL")  # durable in WAL at commit points
        finally:
            cursor.close()

    return on_connect


def _ledger_error(url: str, action: str, e: Exception) -> LedgerError:
    detail = str(getattr(e, "orig", None) or e).splitlines()[0]
    hint = ""
    if "not a database" in detail or "malformed" in detail:
        hint = (
            " The file is not a readable SQLite ledger: move it aside (nothing was overwritten) "
            "or point --ledger-url / GREENSTACK_LEDGER_URL at another file."
        )
    elif "append-only" in detail:
        hint = " Ledger records are never changed; append a correcting record instead."
    elif "unable to open" in detail or "readonly" in detail:
        hint = " Check that the directory exists and is writable, or set --ledger-url."
    return LedgerError(f"cannot {action} the ledger at {_safe_url(url)}: {detail}.{hint}")


def _safe_url(url: str) -> str:
    """The URL with any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _new_ids() -> dict[str, Any]:
    return {"record_id": uuid.uuid4().hex, "created_unix_s": time.time()}


def _intensity_columns(intensity: Intensity) -> dict[str, Any]:
    at = intensity.at
    return {
        "zone": intensity.zone,
        "g_per_kwh": float(intensity.g_per_kwh),
        "intensity_source": intensity.source,
        "intensity_year": int(intensity.year),
        "intensity_scope": intensity.scope,
        "intensity_gas": intensity.gas,
        "intensity_kind": intensity.kind,
        "intensity_method": intensity.method,
        "intensity_at": at.isoformat() if at is not None else None,
    }


def _check_lengths(table: Table, row: Mapping[str, Any]) -> None:
    """Refuse a string longer than its column, on every database alike (SQLite would store it,
    PostgreSQL would refuse it mid-transaction)."""
    for column in table.columns:
        limit = getattr(column.type, "length", None)
        value = row.get(column.name)
        if limit and isinstance(value, str) and len(value) > limit:
            raise DataError(f"{table.name}.{column.name} is {len(value)} characters long; at most "
                            f"{limit} fit: shorten it")


def _check_ids(app: str, run_id: str) -> None:
    if not app or not str(app).strip():
        raise DataError("app must be a non-empty name (e.g. 'maintenance')")
    if not run_id or not str(run_id).strip():
        raise DataError("run_id must be non-empty (e.g. the run key)")


def _checked_counterfactual_id(counterfactual_id: str | None, baseline: str) -> str:
    if counterfactual_id is None:
        return counterfactual_slug(baseline)
    if (len(counterfactual_id) > COUNTERFACTUAL_ID_MAX
            or not COUNTERFACTUAL_ID_PATTERN.match(counterfactual_id)):
        raise DataError(
            f"counterfactual_id {counterfactual_id!r} must be a slug of at most "
            f"{COUNTERFACTUAL_ID_MAX} characters: lower-case letters and digits joined by '-', "
            f"e.g. {counterfactual_slug(baseline)!r}")
    return counterfactual_id


def _check_saving(
    kind: str,
    central: float,
    low: float,
    high: float,
    energy_kwh: float | None,
    period_days: float | None,
    baseline: str,
    method: str,
) -> None:
    if not kind or not kind.strip():
        raise DataError("saving kind must be non-empty (e.g. 'avoided_failures', 'reuse')")
    values = {"co2e_kg": central, "co2e_kg_low": low, "co2e_kg_high": high}
    if energy_kwh is not None:
        values["energy_kwh"] = energy_kwh
    for name, value in values.items():
        if not math.isfinite(value):
            raise DataError(f"saving {name} is {value}; give a finite number")
    if not low <= central <= high:
        raise DataError(f"saving range must satisfy low <= central <= high (got {low}, {central}, {high})")
    if period_days is not None and (not math.isfinite(period_days) or period_days <= 0):
        raise DataError(f"period_days must be > 0 when given (got {period_days})")
    if not baseline.strip() or not method.strip():
        raise DataError("a saving needs its baseline and method stated (non-empty strings)")
