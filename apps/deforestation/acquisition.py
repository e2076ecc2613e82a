"""The date a scene was acquired, from what its product states (never guessed).

Read from, in order: the OSCD layout (``dates.txt`` next to ``imgs_1``/``imgs_2``), Sentinel-2
granule band names (``T33UUU_20170216T102101_B02.jp2``: tile, sensing start, band) and product
names (``S2A_MSIL1C_20170216T102101_…``), Landsat Collection names (``LC08_L1TP_224078_20200518_
20200527_…``: path/row, acquisition date, processing date). Old-format Sentinel-2 tile names
(``S2A_OPER_MSI_L1C_TL_EPA__20161227T091305_…``) carry the processing time, not the sensing time,
so they are not read. A scene with none of these has no date (``None``), and outputs say so.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

_PATTERNS = (
    re.compile(r"(?:^|_)T\d{2}[A-Z]{3}_(\d{8})T\d{6}_"),  # S2 granule band file: sensing start
    re.compile(r"^S2[ABCD]_MSIL(?:1C|2A)_(\d{8})T\d{6}_"),  # S2 product (SAFE) name
    re.compile(r"^L[COTEM]0\d_L[12][A-Z0-9]{2}_\d{6}_(\d{8})_\d{8}_"),  # Landsat collection name
)


def _iso(yyyymmdd: str) -> str | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])).isoformat()
    except ValueError:
        return None


def _oscd_date(path: Path) -> str | None:
    """OSCD: ``<city>/dates.txt`` holds ``date_1: YYYYMMDD`` for ``imgs_1`` and so on."""
    folder = path if path.is_dir() else path.parent
    m = re.fullmatch(r"imgs_(\d)(?:_rect)?", folder.name)
    dates = folder.parent / "dates.txt"
    if m is None or not dates.is_file():
        return None
    for line in dates.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == f"date_{m.group(1)}" and re.fullmatch(r"\d{8}", value.strip()):
            return _iso(value.strip())
    return None


def acquisition_date(paths: list[Path]) -> str | None:
    """ISO date (``YYYY-MM-DD``) of a scene given its file paths, or None when none is stated."""
    for path in paths:
        found = _oscd_date(path)
        if found:
            return found
        for pattern in _PATTERNS:
            m = pattern.search(path.name)
            if m and (iso := _iso(m.group(1))):
                return iso
    return None
