"""CPU power table, CPU matching, the per-thread share and the RAM model."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.energy import Meter
from core.energy.backends import cpu_model
from core.energy.backends.cpu_model import CpuInfo, estimate_cpu_power, load_table, match_cpu
from tests.core.energy.energy_fakes import FakeClock, FakeNvml

ROWS = load_table()


def test_table_rows_are_sane_and_sourced() -> None:
    assert len(ROWS) > 4000
    assert all(r.tdp_w > 0 and r.source for r in ROWS)
    assert all(r.threads is None or r.threads > 0 for r in ROWS)


@pytest.mark.parametrize(
    ("brand", "expected"),
    [
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Intel Xeon Platinum 8375C"),
        ("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "Intel Core i7-1185G7"),
        ("AMD Ryzen 7 5800X 8-Core Processor", "AMD Ryzen 7 5800X"),
        ("AMD EPYC", "AMD EPYC"),  # hypervisor-masked brand: the generic row, exact match only
    ],
)
def test_match_cpu(brand: str, expected: str) -> None:
    row = match_cpu(brand, ROWS)
    assert row is not None and row.name == expected


def test_generic_row_never_matches_a_longer_unknown_brand() -> None:
    row = match_cpu("AMD EPYC 7Z99 64-Core Processor", ROWS)
    assert row is None or not row.generic


def test_this_machine_gets_a_labelled_figure() -> None:
    info = cpu_model.read_cpuinfo()
    estimate = estimate_cpu_power(info, ROWS)
    assert estimate.w_per_thread > 0
    row = match_cpu(info.brand, ROWS)
    if row is None or row.generic:  # generic figures must say so in every Measurement
        assert any("generic" in n.lower() for n in estimate.notes)


def test_bare_metal_shares_tdp_over_logical_cores() -> None:
    info = CpuInfo("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 128, 2, False)
    estimate = estimate_cpu_power(info, ROWS)
    assert estimate.w_per_thread == pytest.approx(300 * 2 / 128)
    assert "8375C" in estimate.source and not estimate.notes


def test_vm_without_thread_count_and_unknown_cpu_fall_back_to_labelled_generic() -> None:
    vm = estimate_cpu_power(CpuInfo("Intel Xeon Platinum 8375C", 4, 1, True), ROWS)
    assert vm.w_per_thread == cpu_model.GENERIC_W_PER_THREAD
    assert "virtual machine" in vm.notes[0]
    unknown = estimate_cpu_power(CpuInfo("Frobnicator 9000", 8, 1, False), ROWS)
    assert unknown.w_per_thread == cpu_model.GENERIC_W_PER_THREAD
    assert "not in the CPU power table" in unknown.notes[0]


def test_read_cpuinfo_parses_brand_sockets_and_hypervisor(tmp_path: Path) -> None:
    text = ""
    for cpu, socket in enumerate([0, 0, 1, 1]):
        text += (f"processor\t: {cpu}\nmodel name\t: Test CPU 42\nphysical id\t: {socket}\n"
                 "flags\t\t: fpu sse hypervisor avx2\n\n")
    (tmp_path / "cpuinfo").write_text(text)
    info = cpu_model.read_cpuinfo(tmp_path / "cpuinfo")
    assert (info.brand, info.sockets, info.virtualised) == ("Test CPU 42", 2, True)


def test_ram_model_integrates_resident_gigabytes() -> None:
    clock = FakeClock()
    used = [8e9]
    ram = cpu_model.RamModelBackend("process", used_bytes=lambda: used[0], clock=clock)
    start = ram.read()["ram_model"]
    clock.advance(10.0)
    assert ram.read()["ram_model"] - start == pytest.approx(8 * 0.375 * 10)  # 3 W for 10 s
    used[0] = 16e9
    clock.advance(10.0)
    assert ram.read()["ram_model"] - start == pytest.approx(30 + 0.5 * (3 + 6) * 10)
    assert "0.375 W/GB" in ram.specs()["ram_model"].source


def test_probe_on_a_machine_without_counters_falls_back_and_says_so(tmp_path: Path) -> None:
    fake = FakeNvml([], init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    meter = Meter(probe_options={"powercap_root": tmp_path / "none", "nvml_module": fake})
    report = meter.probe_report()
    assert [(e.backend, e.status) for e in report.entries] == [
        ("rapl", "absent"), ("nvml", "absent"), ("cpu_model", "used"), ("ram_model", "used")]
    assert "rapl" in report.to_text()
    with meter.window("job") as w:
        sum(range(20_000))
    m = w.measurement
    assert m is not None and m.method == "modelled" and m.scope == "process"
    assert {c.name for c in m.components} == {"cpu_model", "ram_model"}
    assert any(n.startswith("rapl: absent") for n in m.notes)


def test_module_level_probe_report_and_lazy_names(tmp_path: Path) -> None:
    import core.energy

    fake = FakeNvml([], init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    report = core.energy.probe_report(powercap_root=tmp_path, nvml_module=fake)
    assert {e.backend for e in report.entries} == {"rapl", "nvml", "cpu_model", "ram_model"}
    assert "Meter" in dir(core.energy)
    with pytest.raises(AttributeError):
        core.energy.NoSuchThing  # noqa: B018
