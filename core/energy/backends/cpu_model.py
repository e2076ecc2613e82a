"""Modelled CPU and RAM energy, used only when no hardware counter is readable.

CPU: process CPU-seconds x (TDP / hardware threads of the chip), TDP from the shipped
``cpu_power.csv`` (CodeCarbon's MIT-licensed table plus labelled generic rows). RAM: resident
gigabytes x 0.375 W/GB (3 W per 8 GB of DDR3/DDR4, Crucial, as used by CodeCarbon), integrated
over time. Both components are labelled ``modelled`` and carry the row / factor they used.
"""

from __future__ import annotations

import csv
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.energy.backends.base import (
    ComponentSpec,
    EnergyBackend,
    ProbeEntry,
    TrapezoidIntegrator,
)
from core.energy.cpu_time import process_cpu_s

CPU_POWER_TABLE = Path(__file__).resolve().parents[1] / "cpu_power.csv"
# CodeCarbon 3.x DEFAULT_POWER_PER_CORE: its fallback for a CPU missing from its table.
GENERIC_W_PER_THREAD = 4.0
GENERIC_SOURCE = "generic 4 W per thread (codecarbon 3.x DEFAULT_POWER_PER_CORE)"
# Crucial: "3 watts of power for every 8GB of DDR3 or DDR4"; CodeCarbon's RAM model.
RAM_W_PER_GB = 3.0 / 8.0
RAM_SOURCE = "0.375 W/GB (3 W per 8 GB DDR3/DDR4, Crucial; CodeCarbon RAM model)"
_GB = 1e9
_NOISE_RE = re.compile(r"\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|@.*$|\b\d+-core\b")


@dataclass(frozen=True)
class CpuInfo:
    """What the model needs to know about the machine's CPU."""

    brand: str
    logical_cores: int  # online logical CPUs of the machine (all sockets)
    sockets: int
    virtualised: bool  # a hypervisor shows only vCPUs, not the chip's thread count


@dataclass(frozen=True)
class CpuPowerRow:
    """One row of cpu_power.csv."""

    name: str
    tdp_w: float
    threads: int | None
    source: str

    @property
    def generic(self) -> bool:
        return self.source.startswith("generic:")


@dataclass(frozen=True)
class CpuPowerEstimate:
    """Watts charged per busy hardware thread, with where the figure came from."""

    w_per_thread: float
    source: str
    notes: tuple[str, ...]


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """Parse /proc/cpuinfo; off Linux, fall back to ``platform.processor()``."""
    logical = os.cpu_count() or 1
    try:
        text = path.read_text(errors="replace")
    except OSError:
        import platform

        return CpuInfo(platform.processor() or "unknown", logical, 1, False)
    brand, sockets, flags = "unknown", set(), ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and brand == "unknown":
            brand = value
        elif key == "physical id":
            sockets.add(value)
        elif key == "flags" and not flags:
            flags = value
    return CpuInfo(brand, logical, max(len(sockets), 1), "hypervisor" in flags.split())


def _tokens(name: str) -> frozenset[str]:
    return frozenset(_NOISE_RE.sub(" ", name.lower()).split())


@lru_cache(maxsize=4)
def load_table(path: Path = CPU_POWER_TABLE) -> tuple[CpuPowerRow, ...]:
    """Read cpu_power.csv (name, tdp_w, threads, source)."""
    with path.open(newline="", encoding="utf-8") as f:
        return tuple(
            CpuPowerRow(r["name"], float(r["tdp_w"]),
                        int(r["threads"]) if r["threads"] else None, r["source"])
            for r in csv.DictReader(f)
        )


def match_cpu(brand: str, rows: tuple[CpuPowerRow, ...]) -> CpuPowerRow | None:
    """Exact (normalised) name first; else the most specific row whose words, including a model
    number, all appear in the brand string. Generic rows only match exactly."""
    want = _tokens(brand)
    best: CpuPowerRow | None = None
    best_key = (0, 0)
    for row in rows:
        have = _tokens(row.name)
        if have == want:
            return row
        if row.generic or not have <= want or not any(ch.isdigit() for ch in row.name):
            continue
        key = (len(have), len(row.name))
        if key > best_key:
            best, best_key = row, key
    return best


def estimate_cpu_power(info: CpuInfo, rows: tuple[CpuPowerRow, ...]) -> CpuPowerEstimate:
    """Watts per busy hardware thread for ``info``, falling back to a labelled generic figure."""
    row = match_cpu(info.brand, rows)
    if row is None:
        return CpuPowerEstimate(GENERIC_W_PER_THREAD, GENERIC_SOURCE, (
            f"CPU {info.brand!r} is not in the CPU power table; {GENERIC_SOURCE} used",
        ))
    generic_note = f"GENERIC CPU figure, not this SKU's: {row.source.removeprefix('generic: ')}"
    notes = [generic_note] if row.generic else []
    if row.threads:
        return CpuPowerEstimate(
            row.tdp_w / row.threads,
            f"CPU power table: {row.name} TDP {row.tdp_w:g} W / {row.threads} threads "
            f"({row.source.split(';')[0]})",
            tuple(notes),
        )
    if info.virtualised:
        notes.append(
            f"virtual machine: the chip's thread count behind {row.name} (TDP {row.tdp_w:g} W) "
            f"is unknown, so its TDP cannot be shared per vCPU; {GENERIC_SOURCE} used"
        )
        return CpuPowerEstimate(GENERIC_W_PER_THREAD, GENERIC_SOURCE, tuple(notes))
    return CpuPowerEstimate(
        row.tdp_w * info.sockets / info.logical_cores,
        f"CPU power table: {row.name} TDP {row.tdp_w:g} W x {info.sockets} socket(s) / "
        f"{info.logical_cores} logical cores ({row.source})",
        tuple(notes),
    )


class CpuModelBackend(EnergyBackend):
    """``cpu_model`` joules = process CPU seconds x watts per thread. Process scope."""

    name = "cpu_model"

    def __init__(
        self, estimate: CpuPowerEstimate, cpu_seconds: Callable[[], float] = process_cpu_s
    ) -> None:
        super().__init__()
        self.estimate = estimate
        self._cpu_seconds = cpu_seconds
        self._start_cpu_s = cpu_seconds()

    def specs(self) -> Mapping[str, ComponentSpec]:
        return {"cpu_model": ComponentSpec("cpu_model", "modelled", self.estimate.source, "process")}

    def read(self) -> dict[str, float]:
        return {"cpu_model": (self._cpu_seconds() - self._start_cpu_s) * self.estimate.w_per_thread}

    def probe_entry(self) -> ProbeEntry:
        detail = f"{self.estimate.w_per_thread:.3g} W per busy thread from {self.estimate.source}"
        return ProbeEntry("cpu_model", "used", "; ".join((detail, *self.estimate.notes)))


class _ProcessRss:
    """Resident set size of this process (bytes) from /proc/self/statm.

    The file stays open and is re-read with ``pread`` at offset 0 (procfs regenerates it), which
    is ~10x cheaper than opening it per window; reopened after a fork. Off Linux: peak RSS.
    """

    def __init__(self, statm: Path = Path("/proc/self/statm")) -> None:
        self._statm = statm
        self._fd: int | None = None
        self._pid = -1
        self._page_bytes = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            try:
                if self._fd is None or self._pid != os.getpid():
                    self._fd, self._pid = os.open(self._statm, os.O_RDONLY), os.getpid()
                return int(os.pread(self._fd, 128, 0).split()[1]) * self._page_bytes
            except (OSError, ValueError, IndexError):
                import resource

                return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # KiB


process_rss_bytes = _ProcessRss()


def machine_used_bytes(meminfo: Path = Path("/proc/meminfo")) -> float:
    """MemTotal - MemAvailable of the machine (bytes)."""
    fields: dict[str, int] = {}
    for line in meminfo.read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = int(value.split()[0]) * 1024
    return float(fields["MemTotal"] - fields["MemAvailable"])


class RamModelBackend(EnergyBackend):
    """``ram_model`` joules = resident GB x W/GB, trapezoid between reads (window edges).

    ``scope="process"`` charges this process's RSS (children not included); ``"machine"``
    charges the machine's used memory, to sit beside machine-scope CPU counters.
    """

    name = "ram_model"

    def __init__(
        self,
        scope: str = "process",
        *,
        w_per_gb: float = RAM_W_PER_GB,
        used_bytes: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.scope = scope
        self.w_per_gb = w_per_gb
        self._used_bytes = used_bytes or (
            process_rss_bytes if scope == "process" else machine_used_bytes
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._integrator = TrapezoidIntegrator()
        self.read()

    def specs(self) -> Mapping[str, ComponentSpec]:
        what = "process RSS" if self.scope == "process" else "machine used memory"
        source = f"{what} x {RAM_SOURCE}" if self.w_per_gb == RAM_W_PER_GB else (
            f"{what} x {self.w_per_gb:g} W/GB (user-set factor)")
        return {"ram_model": ComponentSpec("ram_model", "modelled", source, self.scope)}

    def read(self) -> dict[str, float]:
        with self._lock:
            power_w = self._used_bytes() / _GB * self.w_per_gb
            return {"ram_model": self._integrator.add(self._clock(), power_w)}

    def probe_entry(self) -> ProbeEntry:
        return ProbeEntry("ram_model", "used", self.specs()["ram_model"].source)
