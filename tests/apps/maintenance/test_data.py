"""C-MAPSS reader on real rows, plain and gzipped, and its errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from apps.maintenance.data import (
    N_COLUMNS,
    load_cmapss,
    parse_rows,
    read_rul,
    read_trajectories,
)
from core.errors import DataError

DATA = Path(__file__).resolve().parents[3] / "data"

CMAPSS = DATA / "cmapss"


def test_reads_real_fd001_rows(fd001) -> None:
    first = fd001.train.iloc[0]
    # train_FD001.txt line 1: "1 1 -0.0007 -0.0004 100.0 518.67 641.82 1589.70 1400.60 ..."
    assert (first["unit"], first["cycle"]) == (1, 1)
    assert first["setting_1"] == pytest.approx(-0.0007)
    assert first["s2"] == pytest.approx(641.82)
    assert first["s21"] == pytest.approx(23.4190)
    assert fd001.train["unit"].nunique() == 100 and fd001.test["unit"].nunique() == 100
    assert len(fd001.train) == 20631 and len(fd001.test_rul) == 100
    assert fd001.test_rul[0] == 112  # RUL_FD001.txt line 1


def test_plain_and_gz_read_the_same(tmp_path: Path) -> None:
    plain = tmp_path / "test_FD001.txt"
    plain.write_bytes(gzip.decompress((CMAPSS / "test_FD001.txt.gz").read_bytes()))
    a = read_trajectories(plain)
    b = read_trajectories(CMAPSS / "test_FD001.txt.gz")
    assert a.equals(b)


def test_fd003_loads_with_two_fault_modes() -> None:
    data = load_cmapss(CMAPSS, "fd003")
    assert data.subset.fault_modes == ("HPC", "fan") and len(data.test_rul) == 100


def test_trailing_spaces_and_blank_lines_are_fine() -> None:
    row = " ".join(["1", "1"] + ["0.5"] * (N_COLUMNS - 2))
    values = parse_rows(f"{row}  \n\n{row} \n")
    assert values.shape == (2, N_COLUMNS)


@pytest.mark.parametrize(("text", "match"), [
    ("1 1 0.1", "3 columns, expected 26"),
    (" ".join(["1", "1"] + ["x"] * 24), "non-numeric"),
    (" ".join(["1", "1"] + ["nan"] * 24), "NaN"),
    ("", "no rows"),
])
def test_bad_rows_raise_clear_errors(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_rows(text)


def test_missing_cycle_is_rejected(tmp_path: Path) -> None:
    rows = [" ".join([str(1), str(c)] + ["1.0"] * 24) for c in (1, 2, 4)]
    path = tmp_path / "train_FD001.txt"
    path.write_text("\n".join(rows))
    with pytest.raises(DataError, match="missing or repeated cycles"):
        read_trajectories(path)


def test_negative_rul_and_count_mismatch(tmp_path: Path) -> None:
    (tmp_path / "RUL_FD001.txt").write_text("5\n-1\n")
    with pytest.raises(DataError, match="non-negative"):
        read_rul(tmp_path / "RUL_FD001.txt")
    for name in ("train_FD001.txt.gz", "test_FD001.txt.gz"):
        (tmp_path / name).write_bytes((CMAPSS / name).read_bytes())
    (tmp_path / "RUL_FD001.txt").write_text("5\n6\n")
    with pytest.raises(DataError, match="2 RUL values but"):
        load_cmapss(tmp_path, "FD001")


def test_missing_files_and_unknown_subset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data-dir"):
        load_cmapss(tmp_path, "FD002")
    with pytest.raises(DataError, match="unknown C-MAPSS subset"):
        load_cmapss(CMAPSS, "FD009")


def test_fingerprint_is_stable(fd001) -> None:
    again = load_cmapss(CMAPSS, "FD001")
    assert again.fingerprint == fd001.fingerprint
    assert np.array_equal(again.test_rul, fd001.test_rul)
