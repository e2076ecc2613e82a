"""EvalSet: content-hash versions and clear errors for bad eval data."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import DataError, GateError
from core.gates import EvalSet, EvalSetError


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)).astype(np.float32), np.arange(20) % 4


def test_version_is_content_hash():
    X, y = _data()
    a = EvalSet("e", X, y, slices={"rare": y == 3})
    assert a.version == EvalSet("other-name", X.copy(), y.copy(), slices={"rare": y == 3}).version
    y2 = y.copy()
    y2[0] = 1
    assert EvalSet("e", X, y2, slices={"rare": y2 == 3}).version != a.version
    assert EvalSet("e", X, y, slices={"rare": y == 2}).version != a.version
    assert EvalSet("e", X, y).version != a.version


def test_group_keys_expand_to_one_slice_per_key():
    X, y = _data()
    es = EvalSet("e", X, y, slices={"cls": y, "first": np.arange(20) < 5})
    assert sorted(es.slices) == ["cls=0", "cls=1", "cls=2", "cls=3", "first"]
    assert es.slices["cls=2"].sum() == 5


def test_wrong_length_mask_is_a_clear_error():
    X, y = _data()
    with pytest.raises(EvalSetError, match="length 20"):
        EvalSet("e", X, y, slices={"rare": np.ones(19, dtype=bool)})


def test_missing_labels_are_errors():
    X, y = _data()
    with pytest.raises(EvalSetError, match="no targets"):
        EvalSet("e", X, None)
    yf = y.astype(float)
    yf[3] = np.nan
    with pytest.raises(EvalSetError, match="NaN"):
        EvalSet("e", X, yf)
    with pytest.raises(EvalSetError, match="19 inputs but 20"):
        EvalSet("e", X[:19], y)


def test_empty_slice_is_an_error_and_error_types():
    X, y = _data()
    with pytest.raises(EvalSetError, match="selects no rows"):
        EvalSet("e", X, y, slices={"none": np.zeros(20, dtype=bool)})
    assert issubclass(EvalSetError, DataError) and issubclass(EvalSetError, GateError)
