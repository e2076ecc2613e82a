"""Run keys and fingerprints: stable, order-aware, sensitive to every input."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError, DataError
from core.runs import fingerprint_arrays, fingerprint_paths, run_key, source_hash


def test_run_key_is_stable_and_sensitive():
    fp = fingerprint_arrays(np.arange(10))
    a = run_key({"lr": 0.1, "layers": [1, 2]}, fp, code_version="v1")
    assert a == run_key({"layers": [1, 2], "lr": 0.1}, fp, code_version="v1")  # key order free
    assert a != run_key({"lr": 0.2, "layers": [1, 2]}, fp, code_version="v1")
    assert a != run_key({"lr": 0.1, "layers": [1, 2]}, fp, code_version="v2")
    assert a != run_key({"lr": 0.1, "layers": [1, 2]}, fingerprint_arrays(np.arange(11)), "v1")
    assert run_key({"a": 1}, fp) == run_key({"a": 1}, fp, code_version=source_hash())


def test_bad_config_and_empty_fingerprint_are_errors():
    with pytest.raises(ConfigError, match="JSON"):
        run_key({"f": object()}, "abc", "v")
    with pytest.raises(ConfigError, match="data_fingerprint"):
        run_key({}, "", "v")


def test_fingerprint_arrays_sees_dtype_shape_and_values():
    x = np.arange(6, dtype=np.int64)
    assert fingerprint_arrays(x) == fingerprint_arrays(x.copy())
    assert fingerprint_arrays(x) != fingerprint_arrays(x.astype(np.int32))
    assert fingerprint_arrays(x) != fingerprint_arrays(x.reshape(2, 3))
    assert fingerprint_arrays(x, x + 1) != fingerprint_arrays(x + 1, x)
    with pytest.raises(DataError):
        fingerprint_arrays(np.array([object()]))


def test_fingerprint_paths(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.csv").write_text("1,2\n")
    first = fingerprint_paths([d])
    assert first == fingerprint_paths([d])
    (d / "a.csv").write_text("1,3\n")
    assert fingerprint_paths([d]) != first
    with pytest.raises(DataError, match="does not exist"):
        fingerprint_paths([tmp_path / "missing"])
