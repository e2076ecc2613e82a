"""Which apps are installed: light enough for the CLI, server and dashboard to import."""

from __future__ import annotations

import importlib.util

APP_NAMES: tuple[str, ...] = ("maintenance", "deforestation", "cooling", "assistant")
# Human titles (dashboard pages, tables); a name not listed is shown as it is.
APP_TITLES: dict[str, str] = {
    "maintenance": "Predictive maintenance",
    "deforestation": "Deforestation",
    "cooling": "Building cooling",
    "assistant": "LLM assistant",
}


def app_title(app: str) -> str:
    """Human title of an app (falls back to the ledger name)."""
    return APP_TITLES.get(app, app)


def module_exists(name: str) -> bool:
    """Whether ``name`` can be imported (its parent packages exist), without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def available_apps(module: str) -> list[str]:
    """Apps that ship ``apps/<app>/<module>.py``, in the suite's order."""
    return [a for a in APP_NAMES if module_exists(f"apps.{a}.{module}")]
