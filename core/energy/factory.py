"""The one probing factory: RAPL (powercap) -> NVML -> CPU/RAM model.

Everything machine-specific is a keyword argument so tests can point it at a fake powercap tree
or a fake NVML module. The only environment variable read anywhere in core.energy is
``CUDA_VISIBLE_DEVICES``, here, and only as the default when ``visible_gpus`` is None — the same
list CUDA uses, so the GPUs metered are the GPUs the process can run on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.energy.backends import cpu_model, nvml, rapl
from core.energy.backends.base import EnergyBackend, NullBackend, ProbeEntry, ProbeReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """The backends to use and the report of how they were chosen."""

    backends: tuple[EnergyBackend, ...]
    report: ProbeReport


def parse_cuda_visible_devices(value: str | None) -> list[nvml.DeviceId] | None:
    """CUDA_VISIBLE_DEVICES → device ids (None = all). Like CUDA, stops at the first bad entry."""
    if value is None:
        return None
    ids: list[nvml.DeviceId] = []
    for raw in value.split(","):
        item = raw.strip()
        if item.isdigit():
            ids.append(int(item))
        elif item.startswith(("GPU-", "MIG-")):
            ids.append(item)
        else:  # "-1", "" and typos hide every later device from CUDA too
            break
    return ids


def _probe_rapl(root: Path, read_text: rapl.ReadText) -> tuple[EnergyBackend, ProbeEntry]:
    found = rapl.discover(root, read_text)
    if found.domains:
        backend = rapl.RaplBackend(found, read_text)
        return backend, backend.probe_entry()
    entry = ProbeEntry("rapl", found.status, "; ".join(found.notes))
    return NullBackend("rapl", entry.detail), entry


def _load_pynvml() -> Any:
    import pynvml  # nvidia-ml-py; imported here so `import core.energy` stays light

    return pynvml


def _probe_nvml(
    module: Any | None,
    visible: Sequence[nvml.DeviceId] | None,
    sync: Callable[[int], None] | None,
    clock: Callable[[], float],
) -> tuple[EnergyBackend, ProbeEntry]:
    try:
        lib = module if module is not None else _load_pynvml()
    except ImportError:
        entry = ProbeEntry("nvml", "absent", "pynvml not installed (pip install nvidia-ml-py)")
        return NullBackend("nvml", entry.detail), entry
    try:
        lib.nvmlInit()
    except lib.NVMLError as e:
        entry = ProbeEntry("nvml", "absent", f"NVML not loadable ({e}): no NVIDIA driver/GPU")
        return NullBackend("nvml", entry.detail), entry
    found = nvml.discover(lib, visible)
    if not found.devices:
        lib.nvmlShutdown()
        entry = ProbeEntry("nvml", found.status, "; ".join(found.notes))
        return NullBackend("nvml", entry.detail), entry
    backend = nvml.NvmlBackend(lib, found, sync=sync, clock=clock)
    return backend, backend.probe_entry()


def _cpu_model(
    counters: set[str], cpuinfo_path: Path, table: Path
) -> tuple[EnergyBackend | None, ProbeEntry]:
    if any(c.startswith(("cpu_package", "psys")) for c in counters):
        return None, ProbeEntry("cpu_model", "not_needed", "RAPL CPU counters readable")
    info = cpu_model.read_cpuinfo(cpuinfo_path)
    backend = cpu_model.CpuModelBackend(
        cpu_model.estimate_cpu_power(info, cpu_model.load_table(table)))
    return backend, backend.probe_entry()


def _ram_model(
    counters: set[str], enabled: bool, clock: Callable[[], float]
) -> tuple[EnergyBackend | None, ProbeEntry]:
    if any(c.startswith("dram") for c in counters):
        return None, ProbeEntry("ram_model", "not_needed", "RAPL DRAM counter readable")
    if not enabled:
        return None, ProbeEntry("ram_model", "not_needed", "disabled (model_ram=False)")
    # Beside machine-scope counters, model the machine's memory; beside the CPU model, ours.
    backend = cpu_model.RamModelBackend("machine" if counters else "process", clock=clock)
    return backend, backend.probe_entry()


def probe(
    *,
    powercap_root: Path = rapl.POWERCAP_ROOT,
    read_text: rapl.ReadText = rapl.read_sysfs,
    visible_gpus: Sequence[nvml.DeviceId] | None = None,
    nvml_module: Any | None = None,
    gpu_sync: Callable[[int], None] | None = None,
    cpuinfo_path: Path = Path("/proc/cpuinfo"),
    cpu_power_table: Path = cpu_model.CPU_POWER_TABLE,
    model_ram: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Probe the machine and return the backends to meter with, plus a report.

    ``visible_gpus``: physical NVML indices or ``GPU-…`` UUIDs in CUDA ordinal order; None reads
    ``CUDA_VISIBLE_DEVICES`` (unset = every GPU). ``gpu_sync(ordinal)`` runs before GPU reads.
    The CPU model is used only when no CPU counter is readable, the RAM model only when no
    DRAM counter is; both say so in the report.
    """
    if visible_gpus is None:
        visible_gpus = parse_cuda_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    rapl_backend, rapl_entry = _probe_rapl(powercap_root, read_text)
    gpu_backend, gpu_entry = _probe_nvml(nvml_module, visible_gpus, gpu_sync, clock)
    backends: list[EnergyBackend] = [rapl_backend, gpu_backend]
    entries = [rapl_entry, gpu_entry]
    counters = set(rapl_backend.specs())
    for backend, entry in (
        _cpu_model(counters, cpuinfo_path, cpu_power_table),
        _ram_model(counters, model_ram, clock),
    ):
        entries.append(entry)
        if backend is not None:
            backends.append(backend)
    report = ProbeReport(tuple(entries))
    logger.debug("energy probe:\n%s", report.to_text())
    return ProbeResult(tuple(backends), report)
