"""Content hashes: run keys, data fingerprints, code versions (all sha256 hex)."""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError, DataError

_CHUNK_BYTES = 1 << 20
_CORE_ROOT = Path(__file__).resolve().parents[1]


def _canonical_json(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"run config must be JSON-serialisable (str, numbers, lists, dicts): {e}") from e


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _as_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach") and hasattr(array, "cpu"):  # torch tensor, without importing torch
        array = array.detach().cpu().numpy()
    arr = np.asarray(array)
    if arr.dtype == object:
        raise DataError("cannot fingerprint an object array; pass numeric or string arrays")
    return np.ascontiguousarray(arr)


def fingerprint_arrays(*arrays: Any, **named: Any) -> str:
    """sha256 over dtype, shape and bytes of each array (numpy, torch, lists); order matters."""
    h = hashlib.sha256()
    items = [(str(i), a) for i, a in enumerate(arrays)] + sorted(named.items())
    for name, array in items:
        arr = _as_numpy(array)
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def fingerprint_paths(paths: Iterable[str | Path], pattern: str = "*") -> str:
    """sha256 over the bytes of files (directories walked recursively, sorted); names relative.

    ``pattern`` selects the files inside directories (``"*.py"`` for sources); ``__pycache__``
    folders are never part of a fingerprint.
    """
    h = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        if not root.exists():
            raise DataError(f"cannot fingerprint {root}: it does not exist")
        files = [root]
        if root.is_dir():
            files = sorted(f for f in root.rglob(pattern)
                           if f.is_file() and "__pycache__" not in f.relative_to(root).parts)
        for f in files:
            rel = f.relative_to(root) if root.is_dir() else Path(f.name)
            h.update(f"{root.name}/{rel}|{f.stat().st_size}|".encode())
            with f.open("rb") as fh:
                while chunk := fh.read(_CHUNK_BYTES):
                    h.update(chunk)
    return h.hexdigest()


def code_version(*sources: str | Path) -> str:
    """Code version of a run: sha256 over the ``.py`` sources of ``core`` plus ``sources``.

    ``sources`` are package folders (every ``.py`` file below them) or single files. An app's
    pipeline passes nothing extra through :func:`run_key`'s default (its own package is added), or
    the modules one step runs, so an edit to core or to that code starts a new run instead of
    reusing results of older code.
    """
    return fingerprint_paths([_CORE_ROOT, *(Path(s) for s in sources)], pattern="*.py")


def _caller_package_dir() -> Path | None:
    """Folder of the second-level package (``apps/<app>``) of the first caller outside core."""
    frame = inspect.currentframe()
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("core."):
        frame = frame.f_back
    if frame is None:
        return None
    parts = str(frame.f_globals.get("__name__", "")).split(".")
    package = sys.modules.get(".".join(parts[:2])) if len(parts) > 2 else None
    init = getattr(package, "__file__", None) or ""  # a regular package: `<pkg>/__init__.py`
    return Path(init).parent if init.endswith("__init__.py") else None


def run_key(config: dict[str, Any], data_fingerprint: str, code_version: str | None = None) -> str:
    """Key of a run: sha256 of canonical-JSON config, data fingerprint and code version.

    ``code_version=None`` is :func:`app_code_version` for the calling module: ``core`` plus the
    caller's package (``apps/<app>/`` when an app's pipeline calls it; ``core`` alone for a
    top-level script), so a change in either starts a new run instead of silently reusing results.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a dict, got {type(config).__name__}")
    if not data_fingerprint:
        raise ConfigError("data_fingerprint is empty; use fingerprint_paths or fingerprint_arrays")
    version = code_version if code_version is not None else app_code_version()
    payload = f"{_canonical_json(config)}|{data_fingerprint}|{version}"
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def app_code_version() -> str:
    """:func:`code_version` of ``core`` plus the package of the module calling (``apps/<app>/``)."""
    package = _caller_package_dir()
    return code_version(*([package] if package else []))
