"""Request and response models of the deforestation REST endpoints (apps/deforestation/router.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class JobPublic(BaseModel):
    """A job's status; ``stats`` (tiles, failed tiles, hectares, CO2) once it is done."""

    id: str
    status: str
    progress: dict[str, int] | None = None
    model: str | None = None
    stats: dict[str, Any] | None = None
    error: str | None = None
