"""Content hashes: run keys, data fingerprints, code versions (all sha256 hex)."""

from __future__ import annotations

import hashlib
import json
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


def fingerprint_paths(paths: Iterable[str | Path]) -> str:
    """sha256 over the bytes of files (directories walked recursively, sorted); names relative."""
    h = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        if not root.exists():
            raise DataError(f"cannot fingerprint {root}: it does not exist")
        files = sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else [root]
        for f in files:
            rel = f.relative_to(root) if root.is_dir() else Path(f.name)
            h.update(f"{root.name}/{rel}|{f.stat().st_size}|".encode())
            with f.open("rb") as fh:
                while chunk := fh.read(_CHUNK_BYTES):
                    h.update(chunk)
    return h.hexdigest()


def source_hash(root: Path | None = None) -> str:
    """sha256 of the ``.py`` sources under ``root`` (default: the installed ``core`` package)."""
    base = root or _CORE_ROOT
    files = sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(base)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def run_key(config: dict[str, Any], data_fingerprint: str, code_version: str | None = None) -> str:
    """Key of a run: sha256 of canonical-JSON config, data fingerprint and code version.

    ``code_version=None`` hashes the ``core`` package sources, so a change in core code starts a
    new run instead of silently reusing results of older code. Apps should pass a hash that also
    covers their own package (``source_hash(Path(apps.maintenance.__file__).parent)``).
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a dict, got {type(config).__name__}")
    if not data_fingerprint:
        raise ConfigError("data_fingerprint is empty; use fingerprint_paths or fingerprint_arrays")
    version = code_version if code_version is not None else source_hash()
    payload = f"{_canonical_json(config)}|{data_fingerprint}|{version}"
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
