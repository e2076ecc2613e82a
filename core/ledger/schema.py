"""Ledger tables (SQLAlchemy Core). Append-only in the database itself: triggers refuse UPDATE
and DELETE on SQLite, and UPDATE, DELETE and TRUNCATE on PostgreSQL, whoever sends the SQL (only
the tables' owner can drop or disable a trigger)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.exc import OperationalError

# 2: savings.counterfactual_id (records of version 1 read it as the slug of their baseline text)
SCHEMA_VERSION = 2
metadata = MetaData()

meta = Table(
    "greenstack_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)


def _record_identity() -> list[Column[Any]]:
    """Columns every ledger record starts with (fresh objects: a Column belongs to one table)."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("record_id", String(32), nullable=False, unique=True),
        Column("created_unix_s", Float, nullable=False),
        Column("app", String(64), nullable=False, index=True),
        Column("run_id", String(128), nullable=False, index=True),
    ]

footprints = Table(
    "footprints",
    metadata,
    *_record_identity(),
    Column("phase", String(16), nullable=False),
    # measurement
    Column("name", String(128), nullable=False),
    Column("unit", String(64)),
    Column("count", Integer, nullable=False),
    Column("start_unix_s", Float, nullable=False),
    Column("wall_s", Float, nullable=False),
    Column("cpu_s", Float, nullable=False),
    Column("energy_j", Float, nullable=False),
    Column("components_json", Text, nullable=False),
    Column("method", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("uncertainty_rel", Float, nullable=False),
    Column("utilisation", Float, nullable=False),
    Column("measurement_notes_json", Text, nullable=False),
    # intensity used
    Column("zone", String(32), nullable=False),
    Column("g_per_kwh", Float, nullable=False),
    Column("intensity_source", Text, nullable=False),
    Column("intensity_year", Integer, nullable=False),
    Column("intensity_scope", String(16), nullable=False),
    Column("intensity_gas", String(8), nullable=False),
    Column("intensity_kind", String(16), nullable=False),
    Column("intensity_method", String(16), nullable=False),
    Column("intensity_at", String(40)),
    # result
    Column("pue", Float, nullable=False),
    Column("co2e_kg", Float, nullable=False),
    Column("notes", Text, nullable=False),
)

savings = Table(
    "savings",
    metadata,
    *_record_identity(),
    Column("kind", String(64), nullable=False),
    # Stable slug of the counterfactual an estimate is about; ``baseline`` describes it in words.
    # NULL only in records written before the column existed (read as the baseline's slug).
    Column("counterfactual_id", String(128), index=True),
    Column("co2e_kg", Float, nullable=False),
    Column("co2e_kg_low", Float, nullable=False),
    Column("co2e_kg_high", Float, nullable=False),
    Column("energy_kwh", Float),
    Column("baseline", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("assumptions_json", Text, nullable=False),
    Column("period_days", Float),
    Column("notes", Text, nullable=False),
)

APPEND_ONLY_TABLES = ("footprints", "savings")


def migrate(conn: Connection, from_version: int) -> None:
    """Bring a ledger of ``from_version`` to :data:`SCHEMA_VERSION`, adding columns only.

    Records are never rewritten (the tables are append-only): a version-1 saving keeps a NULL
    ``counterfactual_id``, and the store reads it as the slug of its baseline text.
    """
    if from_version < 2:
        columns = {c["name"] for c in inspect(conn).get_columns("savings")}
        if "counterfactual_id" not in columns:  # another process may have added it already
            try:
                with conn.begin_nested():
                    conn.execute(text(
                        "ALTER TABLE savings ADD COLUMN counterfactual_id VARCHAR(128)"))
            except OperationalError as e:  # lost a race with another process opening it
                if "duplicate column" not in str(e):
                    raise
    conn.execute(meta.update().where(meta.c.key == "schema_version"),
                 {"value": str(SCHEMA_VERSION)})


def install_sqlite_guards(conn: Connection) -> None:
    """Triggers that make the ledger tables append-only even for raw SQL (SQLite)."""
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} "
                    f"BEFORE {op} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'greenstack ledger is append-only: {op} refused'); "
                    "END"
                )
            )


def install_postgresql_guards(conn: Connection) -> None:
    """Statement triggers that make the ledger tables append-only for raw SQL (PostgreSQL).

    Run inside the schema transaction, under :data:`PG_SCHEMA_LOCK`, so two processes never
    create the function or a trigger at the same time.
    """
    # Created once, by whoever creates the tables: a server role that only has INSERT and
    # SELECT (not the owner) opens the ledger without touching either.
    function = conn.execute(text("SELECT to_regprocedure('greenstack_refuse_change()')")).scalar()
    if function is None:
        conn.execute(
            text(
                "CREATE FUNCTION greenstack_refuse_change() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                "'greenstack ledger is append-only: % refused on %', TG_OP, TG_TABLE_NAME; END $$"
            )
        )
    for table in APPEND_ONLY_TABLES:
        exists = conn.execute(
            text("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :name"),
            {"t": table, "name": f"{table}_append_only"},
        ).first()
        if exists is None:
            conn.execute(
                text(
                    f"CREATE TRIGGER {table}_append_only "
                    f"BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION greenstack_refuse_change()"
                )
            )


# pg_advisory_xact_lock key that serialises schema creation across processes ("gstk" in ASCII).
PG_SCHEMA_LOCK = 0x6773746B
