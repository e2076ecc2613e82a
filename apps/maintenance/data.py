"""C-MAPSS readers: any subset FD001–FD004, NASA's original text files, plain or gzipped.

A subset is declared, not coded: :class:`CmapssSubset` holds what differs between FD001–FD004
(number of operating conditions, fault modes). The reader checks every row has 26 numeric
columns, units are integers and cycles increase by one per unit, so a corrupt file is an error
that names the file and line instead of a silently shifted column.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError

SETTING_COLS: tuple[str, ...] = ("setting_1", "setting_2", "setting_3")
SENSOR_COLS: tuple[str, ...] = tuple(f"s{i}" for i in range(1, 22))
COLUMNS: tuple[str, ...] = ("unit", "cycle", *SETTING_COLS, *SENSOR_COLS)
N_COLUMNS = len(COLUMNS)  # 26


@dataclass(frozen=True)
class CmapssSubset:
    """What distinguishes one C-MAPSS subset from another."""

    name: str
    n_conditions: int
    fault_modes: tuple[str, ...]


SUBSETS: dict[str, CmapssSubset] = {
    "FD001": CmapssSubset("FD001", 1, ("HPC",)),
    "FD002": CmapssSubset("FD002", 6, ("HPC",)),
    "FD003": CmapssSubset("FD003", 1, ("HPC", "fan")),
    "FD004": CmapssSubset("FD004", 6, ("HPC", "fan")),
}


@dataclass(frozen=True)
class CmapssData:
    """One subset: run-to-failure training units, truncated test units and their true RUL."""

    subset: CmapssSubset
    train: pd.DataFrame  # COLUMNS, one row per (unit, cycle)
    test: pd.DataFrame
    test_rul: np.ndarray  # true RUL [cycles] after the last test cycle, indexed like sorted units
    fingerprint: str  # sha256 over the three files' bytes


def subset_info(name: str) -> CmapssSubset:
    """The declaration of subset ``name`` (FD001–FD004)."""
    key = name.upper()
    if key not in SUBSETS:
        raise DataError(f"unknown C-MAPSS subset {name!r}: use one of {sorted(SUBSETS)}")
    return SUBSETS[key]


def find_file(data_dir: Path, stem: str) -> Path:
    """``data_dir/stem`` or ``data_dir/stem.gz``; a clear error when neither exists."""
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{stem} not found in {data_dir}: put NASA's original C-MAPSS files (plain or .gz) there "
        "or pass --data-dir pointing at them"
    )


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="ascii") as fh:
                return fh.read()
        return path.read_text(encoding="ascii")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}; re-copy the file from NASA's archive") from e


def parse_rows(text: str, source: str = "<text>", n_columns: int = N_COLUMNS) -> np.ndarray:
    """Whitespace-separated numeric rows (trailing spaces allowed) → float array (rows, n_columns)."""
    rows: list[list[float]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != n_columns:
            raise DataError(
                f"{source} line {line_no}: {len(fields)} columns, expected {n_columns} "
                "(unit, cycle, 3 settings, 21 sensors)"
            )
        try:
            rows.append([float(f) for f in fields])
        except ValueError as e:
            raise DataError(f"{source} line {line_no}: non-numeric value ({e})") from e
    if not rows:
        raise DataError(f"{source} holds no rows")
    values = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{source}: NaN or infinite values; C-MAPSS files hold finite numbers only")
    return values


def frame_from_rows(values: np.ndarray, source: str = "<rows>") -> pd.DataFrame:
    """Validated trajectory frame (unit, cycle int; cycles 1, 2, … per unit, in order)."""
    df = pd.DataFrame(values, columns=list(COLUMNS))
    if not (np.mod(df["unit"], 1) == 0).all() or not (np.mod(df["cycle"], 1) == 0).all():
        raise DataError(f"{source}: unit and cycle must be integers")
    df["unit"] = df["unit"].astype(np.int64)
    df["cycle"] = df["cycle"].astype(np.int64)
    df = df.sort_values(["unit", "cycle"], kind="stable").reset_index(drop=True)
    steps = df.groupby("unit")["cycle"].diff().dropna()
    if (steps != 1).any():
        bad = int(df.loc[steps[steps != 1].index, "unit"].iloc[0])
        raise DataError(f"{source}: unit {bad} has missing or repeated cycles; cycles must be 1, 2, …")
    return df


def read_trajectories(path: Path) -> pd.DataFrame:
    """Read one ``train_FD00x.txt[.gz]`` or ``test_FD00x.txt[.gz]`` file."""
    return frame_from_rows(parse_rows(_read_text(path), str(path)), str(path))


def read_rul(path: Path) -> np.ndarray:
    """Read ``RUL_FD00x.txt[.gz]``: one non-negative integer per line → int array."""
    values = parse_rows(_read_text(path), str(path), n_columns=1)[:, 0]
    if (values < 0).any() or not (np.mod(values, 1) == 0).all():
        raise DataError(f"{path}: RUL values must be non-negative integers")
    return values.astype(np.int64)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_cmapss(data_dir: Path, subset: str = "FD001") -> CmapssData:
    """Load ``subset`` from ``data_dir`` (NASA file names, plain or .gz)."""
    info = subset_info(subset)
    paths = [find_file(data_dir, f"{kind}_{info.name}.txt") for kind in ("train", "test", "RUL")]
    train, test = read_trajectories(paths[0]), read_trajectories(paths[1])
    rul = read_rul(paths[2])
    n_test_units = test["unit"].nunique()
    if len(rul) != n_test_units:
        raise DataError(
            f"{paths[2]} has {len(rul)} RUL values but {paths[1]} has {n_test_units} units; "
            "use the three files of the same subset"
        )
    return CmapssData(info, train, test, rul, _fingerprint(paths))


def cmapss_dir(data_root: Path) -> Path:
    """Where C-MAPSS files live under a data root: ``root/cmapss`` if present, else ``root``."""
    nested = data_root / "cmapss"
    return nested if nested.is_dir() else data_root
