"""`greenstack data cmapss|ai4i`: fetch the public datasets on demand (never at run time).

Archives are downloaded to a temporary file (size-capped), and only the expected members are
extracted, also from zips nested inside the archive (NASA's bundle nests ``CMAPSSData.zip``).
Member names are reduced to their base name, so an archive cannot write outside ``dest``.
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError

logger = logging.getLogger(__name__)
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class DatasetSource:
    """Where a public dataset lives and which archive members to keep."""

    name: str
    url: str
    members: str  # regex on a member's base name
    required: tuple[str, ...]  # base names that must be present after extraction


SOURCES: dict[str, DatasetSource] = {
    "cmapss": DatasetSource(
        "cmapss",
        "https://phm-datasets.s3.amazonaws.com/NASA/"
        "6.+Turbofan+Engine+Degradation+Simulation+Data+Set.zip",
        r"^(train|test|RUL)_FD00[1-4]\.txt$",
        tuple(f"{k}_FD00{i}.txt" for k in ("train", "test", "RUL") for i in (1, 2, 3, 4)),
    ),
    "ai4i": DatasetSource(
        "ai4i",
        "https://archive.ics.uci.edu/static/public/601/"
        "ai4i+2020+predictive+maintenance+dataset.zip",
        r"^ai4i2020\.csv$",
        ("ai4i2020.csv",),
    ),
}


def _download(url: str, target: Path, timeout_s: float) -> None:
    import httpx

    size = 0
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as r:
            r.raise_for_status()
            with target.open("wb") as fh:
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise DataError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
                    fh.write(chunk)
    except httpx.HTTPError as e:
        raise DataError(f"cannot download {url}: {e}; check the URL and the network, or copy "
                        "the files by hand") from e


def _extract(archive: zipfile.ZipFile, pattern: re.Pattern[str], dest: Path, depth: int = 0
             ) -> list[str]:
    found: list[str] = []
    for info in archive.infolist():
        base = Path(info.filename).name
        if base.lower().endswith(".zip") and depth < 2:
            with zipfile.ZipFile(io.BytesIO(archive.read(info))) as inner:
                found += _extract(inner, pattern, dest, depth + 1)
        elif pattern.match(base):
            (dest / base).write_bytes(archive.read(info))
            found.append(base)
    return found


def fetch_dataset(name: str, dest: Path, url: str | None = None, timeout_s: float = 60.0
                  ) -> list[Path]:
    """Download dataset ``name`` (cmapss | ai4i) from ``url`` (default: its public home) to ``dest``."""
    if name not in SOURCES:
        raise DataError(f"unknown dataset {name!r}: use one of {sorted(SOURCES)}")
    source = SOURCES[name]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive_path = Path(tmp) / "download.zip"
        _download(url or source.url, archive_path, timeout_s)
        try:
            with zipfile.ZipFile(archive_path) as archive:
                found = _extract(archive, re.compile(source.members), dest)
        except zipfile.BadZipFile as e:
            raise DataError(f"{url or source.url} did not return a zip archive ({e})") from e
    missing = [f for f in source.required if f not in found]
    if missing:
        raise DataError(f"the archive lacks {missing}; is {url or source.url} the {name} dataset?")
    logger.info("fetched %d %s files into %s", len(found), name, dest)
    return sorted(dest / f for f in set(found))
