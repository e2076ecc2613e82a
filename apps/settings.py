"""Process-edge settings (env prefix ``GREENSTACK_``). Only the CLI, server and dashboard read them.

Library code takes typed constructor arguments; it never reads the environment itself.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

ENV_PREFIX = "GREENSTACK_"
# Settings fields that the CLI also takes as flags (``--zone`` → ``zone``); ``--force`` is a switch.
FLAG_FIELDS: tuple[str, ...] = ("zone", "grid_csv", "data_dir", "ledger_url", "pue")


class Settings(BaseSettings):
    """Everything a surface needs to build an :class:`apps.context.AppContext`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

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
    # A user's own GGUF for the assistant (default: the shipped SmolLM2 file); checked at start.
    assistant_model: Path | None = None

    @field_validator("assistant_model")
    @classmethod
    def _gguf_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        from apps.assistant.model_file import check_gguf
        from core.errors import ModelError

        try:
            return check_gguf(value)
        except ModelError as e:  # pydantic reports ValueErrors as validation errors
            raise ValueError(str(e)) from e

    def resolved_ledger_url(self) -> str:
        """The ledger URL, defaulting to a SQLite file in the cache directory."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.cache_dir / 'greenstack.db').resolve()}"


def settings_from(args: Any) -> Settings:
    """``Settings`` from the environment, overridden by the flags given (``args`` from argparse)."""
    overrides: dict[str, Any] = {field: getattr(args, field) for field in FLAG_FIELDS
                                 if getattr(args, field, None) is not None}  # fmt: skip
    if getattr(args, "force", False):
        overrides["force"] = True
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(f"invalid setting: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from e


def export_flags(args: Any, environ: MutableMapping[str, str] = os.environ) -> None:
    """Put the flags given into ``GREENSTACK_*`` variables for child processes.

    uvicorn workers and the dashboard are separate processes that build their own Settings from
    the environment; flags given to the CLI reach them this way.
    """
    for field in FLAG_FIELDS:
        value = getattr(args, field, None)
        if value is not None:
            environ[f"{ENV_PREFIX}{field.upper()}"] = str(value)
