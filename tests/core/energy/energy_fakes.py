"""Fakes at the hardware edge only: a real powercap directory tree and a pynvml-shaped module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.energy.backends.rapl import read_sysfs


def write_zone(
    root: Path,
    zone: str,
    name: str | None,
    energy_uj: int | None = 0,
    max_energy_range_uj: int | None = 262_143_328_850,
) -> Path:
    """Create ``root/zone`` with the attributes powercap exposes (None = file missing)."""
    path = root / zone
    path.mkdir(parents=True, exist_ok=True)
    for attr, value in (
        ("name", name),
        ("energy_uj", energy_uj),
        ("max_energy_range_uj", max_energy_range_uj),
    ):
        if value is not None:
            (path / attr).write_text(f"{value}\n")
    return path


def set_energy(root: Path, zone: str, energy_uj: int) -> None:
    (root / zone / "energy_uj").write_text(f"{energy_uj}\n")


class DenyingOpener:
    """Reads the fake tree for real but raises PermissionError (EACCES) for chosen files.

    Tests run as root, and root ignores mode bits, so chmod 000 cannot make a file unreadable
    there. This opener sits exactly where the kernel would refuse a non-root reader (the
    ``open()`` of ``energy_uj``, mode 0400 since CVE-2020-8694) and raises the same exception.
    """

    def __init__(self, denied: set[Path]) -> None:
        self.denied = denied

    def __call__(self, path: Path) -> str:
        if path in self.denied:
            raise PermissionError(13, "Permission denied", str(path))
        return read_sysfs(path)


class FakeNVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    name: str
    energy_mj: int | None = 0  # None: no total-energy counter (pre-Volta)
    power_mw: int = 100_000
    uuid: str = ""
    counter_error: int | None = None  # NVML error code raised by the energy counter


@dataclass
class FakeNvml:
    """The slice of the pynvml API the backend uses, over in-memory devices."""

    gpus: list[FakeGpu]
    init_error: int | None = None
    calls: list[str] = field(default_factory=list)

    NVMLError = FakeNVMLError
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_LIBRARY_NOT_FOUND = 12

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)
        self.calls.append("init")

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        for gpu in self.gpus:
            if gpu.uuid == uuid:
                return gpu
        raise FakeNVMLError(13)  # NVML_ERROR_NOT_FOUND

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        return handle.name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeGpu) -> int:
        if handle.counter_error is not None:
            raise FakeNVMLError(handle.counter_error)
        if handle.energy_mj is None:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return handle.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        return handle.power_mw


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, t_s: float = 100.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s
