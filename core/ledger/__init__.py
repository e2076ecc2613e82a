"""The impact ledger: append-only footprints and savings per app and run (SQLAlchemy)."""

from core.ledger.records import (
    PHASES,
    RESERVED_SAVING_KINDS,
    FootprintRecord,
    SavingRecord,
    counterfactual_slug,
)
from core.ledger.store import Ledger, create_tables

__all__ = [
    "PHASES",
    "RESERVED_SAVING_KINDS",
    "FootprintRecord",
    "Ledger",
    "SavingRecord",
    "counterfactual_slug",
    "create_tables",
]
