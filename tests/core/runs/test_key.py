"""Run keys and fingerprints: stable, order-aware, sensitive to every input."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError, DataError
from core.runs import code_version, fingerprint_arrays, fingerprint_paths, run_key


def test_run_key_is_stable_and_sensitive():
    fp = fingerprint_arrays(np.arange(10))
    a = run_key({"lr": 0.1, "layers": [1, 2]}, fp, code_version="v1")
    assert a == run_key({"layers": [1, 2], "lr": 0.1}, fp, code_version="v1")  # key order free
    assert a != run_key({"lr": 0.2, "layers": [1, 2]}, fp, code_version="v1")
    assert a != run_key({"lr": 0.1, "layers": [1, 2]}, fp, code_version="v2")
    assert a != run_key({"lr": 0.1, "layers": [1, 2]}, fingerprint_arrays(np.arange(11)), "v1")
    # a test module is no app package: the default code version is core's alone
    assert run_key({"a": 1}, fp) == run_key({"a": 1}, fp, code_version=code_version())


def test_default_code_version_covers_the_calling_app_package(tmp_path, monkeypatch):
    pkg = tmp_path / "suite" / "myapp"
    pkg.mkdir(parents=True)
    (tmp_path / "suite" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "domain.py").write_text("LR = 0.1\n")
    (pkg / "pipeline.py").write_text(
        "from core.runs import run_key\n"
        "def key():\n    return run_key({'a': 1}, 'fp')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    pipeline = importlib.import_module("suite.myapp.pipeline")
    before = pipeline.key()
    assert before == run_key({"a": 1}, "fp", code_version=code_version(pkg))
    assert before != run_key({"a": 1}, "fp", code_version=code_version())
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "domain.cpython-311.pyc").write_bytes(b"compiled")
    (pkg / "notes.txt").write_text("not code")
    assert pipeline.key() == before  # only .py sources outside __pycache__ count
    (pkg / "domain.py").write_text("LR = 0.2\n")
    assert pipeline.key() != before  # editing the app's code starts a new run


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
