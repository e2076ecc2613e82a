"""Meter windows: nesting, threads, decorator, invariants of Measurement."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.energy import ComponentEnergy, Measurement, Meter, NoMeasurementError, NullBackend
from core.energy.backends import rapl
from core.energy.backends.cpu_model import CpuModelBackend, CpuPowerEstimate
from core.errors import ConfigError, EnergyBackendError
from tests.core.energy.energy_fakes import set_energy, write_zone


class Counter:
    """A powercap package counter the test advances by hand."""

    def __init__(self, root: Path) -> None:
        self.root, self.uj, self.lock = root, 0, threading.Lock()
        write_zone(root, "intel-rapl:0", "package-0", 0)
        write_zone(root, "intel-rapl:0:0", "dram", 0)

    def add_j(self, energy_j: float) -> None:
        with self.lock:
            self.uj += int(energy_j * 1e6)
            set_energy(self.root, "intel-rapl:0", self.uj)


@pytest.fixture()
def counter(tmp_path: Path) -> Counter:
    return Counter(tmp_path / "powercap")


@pytest.fixture()
def meter(counter: Counter) -> Meter:
    return Meter([rapl.RaplBackend(rapl.discover(counter.root))])


def test_nested_windows_outer_includes_inner(meter: Meter, counter: Counter) -> None:
    with meter.window("outer", unit="epoch") as outer:
        counter.add_j(1.0)
        with meter.window("inner", unit="batch") as inner:
            counter.add_j(2.0)
            inner.count += 4
        counter.add_j(0.5)
        outer.count = 1
    assert meter.last("inner").energy_j == pytest.approx(2.0)
    assert meter.last("inner").j_per_unit == pytest.approx(0.5)
    assert meter.last("outer").energy_j == pytest.approx(3.5)
    assert outer.measurement is meter.last("outer")
    assert [m.name for m in meter.history()] == ["inner", "outer"]


def test_concurrent_windows_in_threads(meter: Meter, counter: Counter) -> None:
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        with meter.window(f"t{i}", unit="item") as w:
            barrier.wait(timeout=10)  # all four windows are open at once here
            counter.add_j(1.0)
            barrier.wait(timeout=10)  # and every thread has added its joule
            w.count = i + 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        m = meter.last(f"t{i}")
        # Each window spans the whole machine over its span: all four joules are inside it.
        assert m.energy_j == pytest.approx(4.0) and m.count == i + 1


def test_decorator_counts_calls_and_records_failures(meter: Meter, counter: Counter) -> None:
    @meter.measure("predict", unit="request")
    def predict(x: int) -> int:
        counter.add_j(0.25)
        if x < 0:
            raise ValueError("negative")
        return 2 * x

    assert predict(3) == 6
    m = meter.last("predict")
    assert m.count == 1 and m.unit == "request" and m.energy_j == pytest.approx(0.25)
    with pytest.raises(ValueError):
        predict(-1)
    failed = meter.last("predict")
    assert failed.count == 0 and failed.j_per_unit is None
    assert any("raised ValueError" in n for n in failed.notes)


def test_measurement_invariants(meter: Meter, counter: Counter) -> None:
    with meter.window("w", unit="sample") as w:
        counter.add_j(1.5)
        w.count = 3
    m = w.measurement
    assert m is not None
    assert all(c.energy_j >= 0 for c in m.components) and m.energy_j >= 0
    assert m.j_per_unit == pytest.approx(m.energy_j / m.count)
    assert m.energy_kwh == pytest.approx(m.energy_j / 3.6e6)
    assert m.wall_s >= 0 and m.cpu_s >= 0 and m.utilisation >= 0
    assert m.uncertainty_rel == pytest.approx(0.05)  # counters only
    assert json.loads(json.dumps(m.to_dict()))["method"] == "counter"
    with pytest.raises(AttributeError):
        m.count = 5  # type: ignore[misc]  # frozen


def test_method_is_weakest_and_psys_not_double_counted() -> None:
    comps = (
        ComponentEnergy("cpu_package:0", 10.0, "counter", "powercap intel-rapl:0"),
        ComponentEnergy("psys", 30.0, "counter", "powercap intel-rapl:1"),
        ComponentEnergy("gpu:0", 5.0, "power_sampled", "NVML"),
        ComponentEnergy("ram_model", 1.0, "modelled", "0.375 W/GB"),
    )
    m = Measurement("x", None, 0, 0.0, 1.0, 1.0, comps, "mixed", 0.5, 0.1)
    assert m.energy_j == pytest.approx(16.0)
    assert m.method == "modelled"
    only_psys = Measurement("y", None, 0, 0.0, 1.0, 1.0, comps[1:2], "machine", 0.5, 0.05)
    assert only_psys.energy_j == pytest.approx(30.0)


def test_bad_values_are_refused() -> None:
    with pytest.raises(EnergyBackendError, match=">= 0"):
        ComponentEnergy("gpu:0", -1.0, "counter", "NVML")
    with pytest.raises(EnergyBackendError):
        ComponentEnergy("gpu:0", float("nan"), "counter", "NVML")
    with pytest.raises(EnergyBackendError, match="no energy components"):
        Measurement("x", None, 0, 0.0, 1.0, 1.0, (), "machine", 0.0, 0.0)
    good = (ComponentEnergy("cpu_model", 1.0, "modelled", "t"),)
    with pytest.raises(EnergyBackendError, match="count"):
        Measurement("x", None, -1, 0.0, 1.0, 1.0, good, "process", 0.0, 0.4)


def test_user_forced_measurement() -> None:
    m = Measurement.user_forced("cluster-job", 7.2e6, unit="run", count=1,
                                source="facility meter, rack 4")
    assert m.method == "user_forced" and m.scope == "user"
    assert m.energy_kwh == pytest.approx(2.0) and m.j_per_unit == pytest.approx(7.2e6)
    assert any("no uncertainty given" in n for n in m.notes)


def test_unknown_name_null_only_and_reentry_errors(meter: Meter) -> None:
    with pytest.raises(NoMeasurementError, match="no finished window"):
        meter.last("never")
    with pytest.raises(ConfigError, match="no energy-producing backend"):
        Meter([NullBackend("nvml", "no GPU")])
    w = meter.window("once")
    with w:
        pass
    with pytest.raises(ConfigError, match="entered twice"), w:
        pass


def test_cpu_model_charges_cpu_seconds_times_watts_per_thread() -> None:
    cpu_s = [10.0]
    backend = CpuModelBackend(CpuPowerEstimate(2.5, "test row", ()), cpu_seconds=lambda: cpu_s[0])
    meter = Meter([backend])
    with meter.window("m"):
        cpu_s[0] += 4.0
    m = meter.last("m")
    assert m.component("cpu_model").energy_j == pytest.approx(10.0)  # type: ignore[union-attr]
    assert m.method == "modelled" and m.scope == "process" and m.uncertainty_rel == 0.4


def test_probe_settings_with_explicit_backends_are_refused(counter: Counter) -> None:
    backend = rapl.RaplBackend(rapl.discover(counter.root))
    with pytest.raises(ConfigError, match="probe settings"):
        Meter([backend], visible_gpus=[0])


def test_a_counter_failing_at_window_start_leaves_no_open_window(
    meter: Meter, counter: Counter
) -> None:
    (counter.root / "intel-rapl:0" / "energy_uj").unlink()
    with pytest.raises(EnergyBackendError, match="powercap driver"), meter.window("broken"):
        pass
    assert meter._open_windows == 0 and not meter.polling


def test_cpu_seconds_include_children_waited_for() -> None:
    import resource
    import subprocess
    import sys

    meter = Meter([CpuModelBackend(CpuPowerEstimate(1.0, "test row", ()))])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with meter.window("child"):
        subprocess.run([sys.executable, "-c", "sum(range(2_000_000))"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = meter.last("child")
    assert child_cpu_s > 0 and m.cpu_s >= child_cpu_s
    assert m.component("cpu_model").energy_j == pytest.approx(m.cpu_s, rel=0.05, abs=0.02)  # type: ignore[union-attr]


def test_count_accepts_numpy_integers_and_refuses_fractions(meter: Meter) -> None:
    import numpy as np

    with meter.window("np", unit="row") as w:
        w.count += np.int64(7)
    assert meter.last("np").count == 7 and type(meter.last("np").count) is int
    with pytest.raises(ConfigError, match="whole number of rows"), meter.window("f", unit="rows") as w:
        w.count = 2.5  # type: ignore[assignment]
