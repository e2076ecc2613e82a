"""Process-edge settings (env prefix ``GREENSTACK_``). Only the CLI, server and dashboard read them.

Library code takes typed constructor arguments; it never reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a surface needs to build an :class:`apps.context.AppContext`."""

    model_config = SettingsConfigDict(env_prefix="GREENSTACK_", extra="ignore")

    # Grid zone for emissions, e.g. "FR", "DE", "US-CISO". No default on purpose: an unset zone is
    # an error that says how to set it (never a silent guess).
    zone: str | None = None
    # Optional hourly grid series (CSV in the EIA-930 derived format) used instead of the annual table.
    grid_csv: Path | None = None
    pue: float = Field(default=1.0, ge=1.0, le=3.0)  # facility PUE, reported with every number
    data_dir: Path = Path("data")  # shipped samples; point it at full datasets
    cache_dir: Path = Path(".greenstack")  # git-ignored derived data, run store, ledger
    models_dir: Path = Path("models")  # model cards (committed) and artifacts (build outputs)
    ledger_url: str | None = None  # SQLAlchemy URL; default sqlite under cache_dir
    open_reads: bool = True  # GET endpoints without an API key; writes always need one
    # Endpoints that run a model (chat, predict, batch scoring) without a key; off: they cost energy.
    open_compute: bool = False
    max_body_bytes: int = 8 * 1024 * 1024
    force: bool = False  # rerun finished runs instead of reusing them

    def resolved_ledger_url(self) -> str:
        """The ledger URL, defaulting to a SQLite file in the cache directory."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.cache_dir / 'greenstack.db').resolve()}"
