"""The last run's test-fleet predictions per subset, kept for the dashboard's fleet view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apps.maintenance.config import PipelineConfig
from apps.maintenance.data import CmapssData


def fleet_path(cache_dir: Path, subset: str) -> Path:
    """``<cache>/maintenance/fleet-<subset>.json``."""
    return cache_dir / f"fleet-{subset.lower()}.json"


def save_fleet(cache_dir: Path, cfg: PipelineConfig, data: CmapssData, train_out: dict[str, Any],
               ev: dict[str, Any]) -> None:
    """Units, true and predicted RUL with intervals and alarms of the served seed."""
    seed = train_out["seeds"][str(cfg.served_seed)]
    fleet = {"subset": cfg.subset, "units": seed["units"], "true_rul": data.test_rul.tolist(),
             "served": ev["served"], **ev["test_served"], "cap": cfg.rul_cap,
             "alarm": ev["alarms"]["alarm_at_last_cycle"]}
    fleet_path(cache_dir, cfg.subset).write_text(json.dumps(fleet))


def load_fleet(cache_dir: Path, subset: str) -> dict[str, Any] | None:
    """The saved fleet view of ``subset``, or None if no pipeline has run for it."""
    path = fleet_path(cache_dir, subset)
    return json.loads(path.read_text()) if path.is_file() else None
