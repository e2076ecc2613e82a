"""NVML backend against a fake pynvml module: counter, reset, power sampling, visibility."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.energy import Meter
from core.energy.backends import nvml
from core.energy.factory import parse_cuda_visible_devices, probe
from core.errors import EnergyBackendError
from tests.core.energy.energy_fakes import FakeClock, FakeGpu, FakeNvml


def make_backend(fake: FakeNvml, **kwargs: object) -> nvml.NvmlBackend:
    fake.nvmlInit()
    return nvml.NvmlBackend(fake, nvml.discover(fake, None), **kwargs)  # type: ignore[arg-type]


def test_energy_counter_per_device_with_sync_before_reads() -> None:
    fake = FakeNvml([FakeGpu("A100", energy_mj=1_000), FakeGpu("A100", energy_mj=5_000)])
    synced: list[int] = []
    backend = make_backend(fake, sync=synced.append)
    assert backend.poll_interval_s is None  # counters only: no sampling thread needed
    fake.gpus[0].energy_mj = 4_000  # +3 J
    fake.gpus[1].energy_mj = 5_500  # +0.5 J
    assert backend.read() == pytest.approx({"gpu:0": 3.0, "gpu:1": 0.5})
    assert synced == [0, 1]
    assert {s.method for s in backend.specs().values()} == {"counter"}


def test_counter_going_back_is_a_reset_and_is_noted() -> None:
    fake = FakeNvml([FakeGpu("V100", energy_mj=10_000)])
    meter = Meter([make_backend(fake)])
    with meter.window("after-reset") as w:
        fake.gpus[0].energy_mj = 2_000  # driver reloaded: counter restarted from 0
    m = w.measurement
    assert m is not None
    assert m.component("gpu:0").energy_j == pytest.approx(2.0)  # type: ignore[union-attr]
    assert any("went back" in n and "reset" in n for n in m.notes)


def test_no_counter_integrates_sampled_power_with_the_trapezoid_rule() -> None:
    clock = FakeClock()
    fake = FakeNvml([FakeGpu("P100", energy_mj=None, power_mw=100_000)])
    backend = make_backend(fake, clock=clock)
    assert backend.poll_interval_s == pytest.approx(0.1)  # 10 Hz
    assert backend.specs()["gpu:0"].method == "power_sampled"
    start = backend.read()["gpu:0"]
    clock.advance(0.1)
    fake.gpus[0].power_mw = 200_000
    backend.poll()  # what the Meter's thread does every 0.1 s
    clock.advance(0.1)
    end = backend.read()["gpu:0"]
    assert end - start == pytest.approx(0.5 * (100 + 200) * 0.1 + 200 * 0.1)


def test_sampling_rate_below_10_hz_is_refused() -> None:
    fake = FakeNvml([FakeGpu("P100", energy_mj=None)])
    with pytest.raises(EnergyBackendError, match="10"):
        make_backend(fake, sample_hz=2.0)


def test_one_sampling_thread_only_while_windows_are_open() -> None:
    fake = FakeNvml([FakeGpu("P100", energy_mj=None)])
    meter = Meter([make_backend(fake)])
    with meter.window("outer"), meter.window("inner"):
        pollers = [t for t in threading.enumerate() if t.name == "greenstack-energy-poller"]
        assert meter.polling and len(pollers) == 1
    pollers[0].join(timeout=5)  # the stop event wakes it at once
    assert not pollers[0].is_alive() and not meter.polling


def test_counter_backend_starts_no_thread() -> None:
    meter = Meter([make_backend(FakeNvml([FakeGpu("H100", energy_mj=0)]))])
    with meter.window("w"):
        assert not meter.polling


def test_cuda_visible_devices_parsing_follows_cuda() -> None:
    assert parse_cuda_visible_devices(None) is None
    assert parse_cuda_visible_devices("1,0") == [1, 0]
    assert parse_cuda_visible_devices("GPU-abc, 2") == ["GPU-abc", 2]
    assert parse_cuda_visible_devices("0,-1,1") == [0]  # CUDA stops at the first invalid entry
    assert parse_cuda_visible_devices("") == []


def _gpus() -> list[FakeGpu]:
    return [FakeGpu("GPU zero", energy_mj=0, uuid="GPU-aaa"),
            FakeGpu("GPU one", energy_mj=0, uuid="GPU-bbb")]


def test_factory_reads_cuda_visible_devices_only_as_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    fake = FakeNvml(_gpus())
    result = probe(powercap_root=tmp_path, nvml_module=fake)
    gpu = result.backends[1].specs()
    assert list(gpu) == ["gpu:0"] and "GPU one" in gpu["gpu:0"].source  # ordinal 0 = physical 1

    explicit = probe(powercap_root=tmp_path, nvml_module=FakeNvml(_gpus()), visible_gpus=["GPU-aaa"])
    assert "GPU zero" in explicit.backends[1].specs()["gpu:0"].source

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    hidden = probe(powercap_root=tmp_path, nvml_module=FakeNvml(_gpus()))
    assert {e.backend: e.status for e in hidden.report.entries}["nvml"] == "absent"


def test_unreadable_counter_and_missing_library_are_reported(tmp_path: Path) -> None:
    denied = FakeNvml([FakeGpu("A10", counter_error=FakeNvml.NVML_ERROR_NO_PERMISSION)])
    found = nvml.discover(denied, None)
    assert found.status == "unreadable" and "unreadable" in found.notes[0]

    no_lib = FakeNvml([], init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    result = probe(powercap_root=tmp_path, nvml_module=no_lib)
    entries = {e.backend: e for e in result.report.entries}
    assert entries["nvml"].status == "absent" and "NVML not loadable" in entries["nvml"].detail
    assert entries["cpu_model"].status == "used"


def test_gpu_and_cpu_model_together_are_mixed_scope(tmp_path: Path) -> None:
    fake = FakeNvml([FakeGpu("H100", energy_mj=0)])
    meter = Meter(probe_options={"powercap_root": tmp_path, "nvml_module": fake})
    with meter.window("train", unit="sample") as w:
        fake.gpus[0].energy_mj = 50_000
        w.count = 10
    m = meter.last("train")
    assert m.scope == "mixed" and m.method == "modelled"
    assert m.component("gpu:0").energy_j == pytest.approx(50.0)  # type: ignore[union-attr]
    assert m.energy_j >= 50.0 and m.j_per_unit == pytest.approx(m.energy_j / 10)
    meter.close()
    assert "shutdown" in fake.calls
