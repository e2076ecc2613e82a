"""NVIDIA GPUs through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` package).

The total-energy counter (mJ since driver load, Volta and newer) is used first. Where a device
has none, its power (mW) is sampled by the Meter's one background thread at >= 10 Hz and
integrated with the trapezoid rule. A counter that goes back (driver reload, GPU reset) is a
reset: the energy since the reset is counted and an event is noted in the window.

The module object is passed in (the factory imports ``pynvml``; tests pass a fake), and so is
the list of visible devices, so nothing here reads the environment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.energy.backends.base import (
    ComponentSpec,
    EnergyBackend,
    ProbeEntry,
    ProbeStatus,
    TrapezoidIntegrator,
)
from core.energy.measurement import Method
from core.errors import EnergyBackendError
from core.units import MJ_PER_J

logger = logging.getLogger(__name__)
MIN_SAMPLE_HZ = 10.0
DeviceId = int | str  # physical NVML index, or a "GPU-..." UUID as CUDA_VISIBLE_DEVICES allows


@dataclass(frozen=True)
class GpuDevice:
    """One visible GPU."""

    ordinal: int  # the CUDA ordinal this process sees (position in the visible list)
    device_id: DeviceId  # what selected it (physical index or UUID)
    handle: Any
    label: str  # marketing name, for the source string
    has_counter: bool


@dataclass(frozen=True)
class NvmlDiscovery:
    """Devices found and what was learned on the way."""

    devices: tuple[GpuDevice, ...]
    status: ProbeStatus
    notes: tuple[str, ...]


def _error_value(nvml: Any, err: BaseException) -> int | None:
    return getattr(err, "value", None) if isinstance(err, nvml.NVMLError) else None


def _handle(nvml: Any, device_id: DeviceId, count: int) -> Any:
    if isinstance(device_id, int):
        return nvml.nvmlDeviceGetHandleByIndex(device_id) if 0 <= device_id < count else None
    try:
        return nvml.nvmlDeviceGetHandleByUUID(device_id)
    except nvml.NVMLError:  # unknown UUID: invalid entry, like an out-of-range index
        return None


def _open_device(
    nvml: Any, ordinal: int, device_id: DeviceId, handle: Any, notes: list[str]
) -> tuple[GpuDevice | None, bool]:
    """(device, permission_denied)."""
    name = nvml.nvmlDeviceGetName(handle)
    label = name.decode() if isinstance(name, bytes) else str(name)
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return GpuDevice(ordinal, device_id, handle, label, True), False
    except nvml.NVMLError as e:
        if _error_value(nvml, e) != nvml.NVML_ERROR_NOT_SUPPORTED:
            denied = _error_value(nvml, e) == nvml.NVML_ERROR_NO_PERMISSION
            notes.append(f"gpu:{ordinal} ({label}) energy counter unreadable: {e}")
            return None, denied
    try:
        nvml.nvmlDeviceGetPowerUsage(handle)
    except nvml.NVMLError as e:
        notes.append(f"gpu:{ordinal} ({label}) has neither energy counter nor power reading: {e}")
        return None, _error_value(nvml, e) == nvml.NVML_ERROR_NO_PERMISSION
    notes.append(f"gpu:{ordinal} ({label}) has no energy counter; power sampled >= 10 Hz")
    return GpuDevice(ordinal, device_id, handle, label, False), False


def discover(nvml: Any, visible: Sequence[DeviceId] | None) -> NvmlDiscovery:
    """Open the visible devices (``None`` = all). ``nvml`` is an initialised pynvml-like module."""
    notes: list[str] = []
    try:
        count = int(nvml.nvmlDeviceGetCount())
        ids: Sequence[DeviceId] = list(range(count)) if visible is None else visible
        devices: list[GpuDevice] = []
        denied = False
        for ordinal, device_id in enumerate(ids):
            handle = _handle(nvml, device_id, count)
            if handle is None:  # CUDA ignores the rest of the list after an invalid entry
                notes.append(f"visible device {device_id!r} does not exist; later entries ignored")
                break
            device, was_denied = _open_device(nvml, ordinal, device_id, handle, notes)
            denied = denied or was_denied
            if device is not None:
                devices.append(device)
    except nvml.NVMLError as e:
        return NvmlDiscovery((), "unreadable", (f"NVML error while listing devices: {e}",))
    if devices:
        return NvmlDiscovery(tuple(devices), "used", tuple(notes))
    if not ids:
        notes.append("no visible NVIDIA GPU")
    return NvmlDiscovery((), "unreadable" if denied else "absent", tuple(notes))


class NvmlBackend(EnergyBackend):
    """Per-GPU cumulative joules: energy counter where present, integrated power otherwise.

    ``sync(ordinal)`` (e.g. ``torch.cuda.synchronize``) is called before each window read so
    queued kernels are charged to the window that launched them. ``clock`` is monotonic seconds.
    """

    name = "nvml"

    def __init__(
        self,
        nvml: Any,
        discovery: NvmlDiscovery,
        *,
        sync: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sample_hz: float = MIN_SAMPLE_HZ,
    ) -> None:
        super().__init__()
        if not discovery.devices:
            raise EnergyBackendError("NvmlBackend needs at least one device from nvml.discover()")
        if sample_hz < MIN_SAMPLE_HZ:
            raise EnergyBackendError(
                f"sample_hz={sample_hz} is below {MIN_SAMPLE_HZ} Hz; short kernels would be missed"
            )
        self._nvml = nvml
        self._discovery = discovery
        self._sync = sync
        self._clock = clock
        self._lock = threading.Lock()
        self._total_mj: dict[str, float] = {}
        self._last_mj: dict[str, float] = {}
        self._integrators: dict[str, TrapezoidIntegrator] = {}
        for dev in discovery.devices:
            key = f"gpu:{dev.ordinal}"
            if dev.has_counter:
                self._last_mj[key] = float(self._call(nvml.nvmlDeviceGetTotalEnergyConsumption, dev))
                self._total_mj[key] = 0.0
            else:
                self._integrators[key] = TrapezoidIntegrator()
        self.poll_interval_s = 1.0 / sample_hz if self._integrators else None
        self._sample_all()

    def _call(self, fn: Callable[[Any], Any], dev: GpuDevice) -> Any:
        try:
            return fn(dev.handle)
        except self._nvml.NVMLError as e:
            raise EnergyBackendError(
                f"NVML read of gpu:{dev.ordinal} ({dev.label}) failed: {e}; check `nvidia-smi` "
                "and that the driver was not reloaded while measuring"
            ) from e

    def specs(self) -> Mapping[str, ComponentSpec]:
        out = {}
        for dev in self._discovery.devices:
            key = f"gpu:{dev.ordinal}"
            what = "total energy counter" if dev.has_counter else "power sampled, trapezoid"
            source = f"NVML {what}, device {dev.device_id!r} ({dev.label})"
            method: Method = "counter" if dev.has_counter else "power_sampled"
            out[key] = ComponentSpec(key, method, source, "machine")
        return out

    def _sample_all(self) -> None:
        with self._lock:
            for dev in self._discovery.devices:
                key = f"gpu:{dev.ordinal}"
                if key in self._integrators:
                    power_w = float(self._call(self._nvml.nvmlDeviceGetPowerUsage, dev)) / 1000.0
                    self._integrators[key].add(self._clock(), power_w)

    def poll(self) -> None:
        """Sample the power-only devices (no device sync: that would stall the GPU at 10 Hz)."""
        self._sample_all()

    def read(self) -> dict[str, float]:
        if self._sync is not None:
            for dev in self._discovery.devices:
                self._sync(dev.ordinal)
        self._sample_all()
        with self._lock:
            for dev in self._discovery.devices:
                key = f"gpu:{dev.ordinal}"
                if key not in self._total_mj:
                    continue
                now_mj = float(self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, dev))
                if now_mj < self._last_mj[key]:
                    self._record_event(
                        f"{key} energy counter went back ({self._last_mj[key]:.0f} -> "
                        f"{now_mj:.0f} mJ): treated as a reset, energy since the reset counted"
                    )
                    delta_mj = now_mj
                else:
                    delta_mj = now_mj - self._last_mj[key]
                self._total_mj[key] += delta_mj
                self._last_mj[key] = now_mj
            out = {k: v / MJ_PER_J for k, v in self._total_mj.items()}
            out.update({k: i.energy_j for k, i in self._integrators.items()})
            return out

    def probe_entry(self) -> ProbeEntry:
        used = ", ".join(
            f"gpu:{d.ordinal}={d.label} ({'counter' if d.has_counter else 'power sampled'})"
            for d in self._discovery.devices
        )
        extra = "; ".join(self._discovery.notes)
        return ProbeEntry("nvml", "used", used + (f"; {extra}" if extra else ""))

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError as e:  # shutting down twice is harmless; say so in the log
            logger.debug("nvmlShutdown: %s", e)
