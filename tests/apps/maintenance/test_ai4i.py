"""AI4I classifier: leak columns dropped, BOM read, threshold from validation, real run."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.maintenance.ai4i import LEAKY, ai4i_features, read_ai4i, train_ai4i
from core.errors import DataError

DATA = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture(scope="module")
def ai4i():
    return read_ai4i(DATA / "ai4i" / "ai4i2020.csv.gz")


def test_bom_read_and_failure_flags_dropped(ai4i) -> None:
    assert ai4i.columns[0] == "UDI"  # not "\ufeffUDI"
    assert not set(LEAKY) & set(ai4i.columns)
    assert len(ai4i) == 10_000 and int(ai4i["Machine failure"].sum()) == 339
    feats = ai4i_features(ai4i)
    assert not set(LEAKY) & set(feats.columns) and "Machine failure" not in feats.columns


def test_classifier_on_real_data(ai4i) -> None:
    _, result = train_ai4i(ai4i, seed=0)
    assert result.n_test == 2000 and result.positives_test > 40
    assert 0.5 < result.pr_auc <= 1.0 and 0.5 < result.f1 <= 1.0
    assert 0.0 < result.threshold < 1.0


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="lacks columns"):
        read_ai4i(tmp_path / "x.csv")
    with pytest.raises(DataError):
        read_ai4i(tmp_path / "missing.csv")
