"""RAPL through a real powercap-shaped directory tree written to tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.energy import Meter
from core.energy.backends import rapl
from core.energy.factory import probe
from tests.core.energy.energy_fakes import DenyingOpener, FakeNvml, set_energy, write_zone

MAX_UJ = 262_143_328_850


def server_tree(root: Path) -> Path:
    """Two packages with core/uncore subzones, a DRAM subzone and a psys zone."""
    root.mkdir(exist_ok=True)
    (root / "intel-rapl").mkdir()  # the control-type directory, not a zone
    write_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    write_zone(root, "intel-rapl:0:0", "core", 400_000)
    write_zone(root, "intel-rapl:0:1", "uncore", 100_000)
    write_zone(root, "intel-rapl:0:2", "dram", 50_000)
    write_zone(root, "intel-rapl:1", "package-1", 2_000_000)
    write_zone(root, "intel-rapl:2", "psys", 9_000_000)
    return root


def test_package_dram_psys_reported_separately_and_subzones_not_summed(tmp_path: Path) -> None:
    root = server_tree(tmp_path / "powercap")
    found = rapl.discover(root)
    assert found.status == "used"
    assert sorted(d.component for d in found.domains) == [
        "cpu_package:0", "cpu_package:1", "dram:0", "psys"]
    backend = rapl.RaplBackend(found)
    before = backend.read()
    set_energy(root, "intel-rapl:0", 3_000_000)  # +2 J
    set_energy(root, "intel-rapl:0:0", 1_900_000)  # core +1.5 J: inside the package already
    set_energy(root, "intel-rapl:0:2", 550_000)  # dram +0.5 J
    set_energy(root, "intel-rapl:2", 19_000_000)  # psys +10 J
    after = backend.read()
    delta = {k: after[k] - before[k] for k in after}
    assert delta == pytest.approx(
        {"cpu_package:0": 2.0, "cpu_package:1": 0.0, "dram:0": 0.5, "psys": 10.0})


def test_wrap_around_uses_max_energy_range(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0", 900, max_energy_range_uj=1000)
    backend = rapl.RaplBackend(rapl.discover(root))
    set_energy(root, "intel-rapl:0", 100)  # wrapped: 900 → 1000 → 0 → 100
    assert backend.read()["cpu_package:0"] == pytest.approx(201e-6)
    set_energy(root, "intel-rapl:0", 150)
    assert backend.read()["cpu_package:0"] == pytest.approx(251e-6)
    # The wrap guard polls well before the smallest counter could wrap twice.
    assert backend.poll_interval_s is not None and backend.poll_interval_s < 1000e-6 / 1000


def test_mmio_duplicate_dropped_but_mmio_only_domain_kept(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0", 10)
    write_zone(root, "intel-rapl-mmio:0", "package-0", 10)
    found = rapl.discover(root)
    assert [d.zone for d in found.domains] == ["intel-rapl:0"]
    assert any("intel-rapl-mmio:0" in n and "dropped" in n for n in found.notes)

    only_mmio = tmp_path / "mmio-only"
    write_zone(only_mmio, "intel-rapl-mmio:0", "package-0", 10)
    assert [d.zone for d in rapl.discover(only_mmio).domains] == ["intel-rapl-mmio:0"]


def test_mirrored_per_die_counters_kept_once(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0-die-0", 5_000)
    write_zone(root, "intel-rapl:1", "package-0-die-1", 5_000)
    found = rapl.discover(root)
    assert [(d.component, d.zone) for d in found.domains] == [("cpu_package:0", "intel-rapl:0")]
    assert any("mirror" in n for n in found.notes)


def test_distinct_per_die_counters_are_separate_components(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0-die-0", 5_000)
    write_zone(root, "intel-rapl:1", "package-0-die-1", 7_000)
    found = rapl.discover(root)
    assert [d.component for d in found.domains] == ["cpu_package:0/die:0", "cpu_package:0/die:1"]


def test_permission_denied_is_unreadable_never_zero(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0", 10)
    write_zone(root, "intel-rapl:0:0", "dram", 10)
    opener = DenyingOpener({root / "intel-rapl:0" / "energy_uj", root / "intel-rapl:0:0" / "energy_uj"})
    found = rapl.discover(root, opener)
    assert found.status == "unreadable" and found.domains == ()
    assert any("needs root or a udev rule" in n for n in found.notes)

    fake_nvml = FakeNvml([], init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    meter = Meter(probe_options={"powercap_root": root, "read_text": opener,
                                 "nvml_module": fake_nvml})
    entry = {e.backend: e for e in meter.probe_report().entries}
    assert entry["rapl"].status == "unreadable"
    assert entry["cpu_model"].status == "used"  # the labelled model stands in, never a 0 J counter
    with meter.window("w") as w:
        pass
    assert w.measurement is not None
    assert not any(c.name.startswith("cpu_package") for c in w.measurement.components)
    assert w.measurement.method == "modelled"
    assert any("needs root or a udev rule" in n for n in w.measurement.notes)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files; the opener test covers it")
def test_permission_denied_by_real_file_mode(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0", 10)
    (root / "intel-rapl:0" / "energy_uj").chmod(0)
    found = rapl.discover(root)
    assert found.status == "unreadable"
    assert any("needs root or a udev rule" in n for n in found.notes)


def test_missing_files_are_skipped_with_a_note(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0", energy_uj=None)
    write_zone(root, "intel-rapl:1", "package-1", 10, max_energy_range_uj=None)
    write_zone(root, "intel-rapl:2", None, 10)
    write_zone(root, "intel-rapl:3", "package-3", 10)
    found = rapl.discover(root)
    assert [d.component for d in found.domains] == ["cpu_package:3"]
    text = " ".join(found.notes)
    assert "missing energy_uj" in text and "missing max_energy_range_uj" in text
    assert "intel-rapl:2: no 'name'" in text


def test_absent_tree_and_empty_tree(tmp_path: Path) -> None:
    assert rapl.discover(tmp_path / "nope").status == "absent"
    (tmp_path / "empty").mkdir()
    found = rapl.discover(tmp_path / "empty")
    assert found.status == "absent" and "no RAPL zones" in found.notes[-1]


def test_meter_over_counters_is_machine_scope_and_excludes_psys(tmp_path: Path) -> None:
    root = server_tree(tmp_path / "powercap")
    fake_nvml = FakeNvml([], init_error=FakeNvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    result = probe(powercap_root=root, nvml_module=fake_nvml)
    statuses = {e.backend: e.status for e in result.report.entries}
    assert statuses == {"rapl": "used", "nvml": "absent", "cpu_model": "not_needed",
                        "ram_model": "not_needed"}
    meter = Meter(result.backends)
    with meter.window("job", unit="batch") as w:
        set_energy(root, "intel-rapl:0", 4_000_000)  # +3 J
        set_energy(root, "intel-rapl:2", 20_000_000)  # psys +11 J, contains the package
        w.count += 3
    m = meter.last("job")
    assert m.scope == "machine" and m.method == "counter"
    assert m.energy_j == pytest.approx(3.0)  # psys reported, not summed
    assert m.component("psys") is not None
    assert m.j_per_unit == pytest.approx(1.0)


def _python_for_nobody() -> str | None:
    for candidate in ("/usr/bin/python3.11", "/usr/bin/python3"):
        if Path(candidate).exists():
            return candidate
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can drop to another uid")
def test_permission_denied_by_the_kernel_for_an_unprivileged_child(tmp_path: Path) -> None:
    """As root, prove the real EACCES path: a child running as uid 65534 reads a 0400 file."""
    import subprocess
    import tempfile

    python = _python_for_nobody()
    if python is None:
        pytest.skip("no system python that uid 65534 may execute")
    project = Path(rapl.__file__).resolve().parents[3]
    with tempfile.TemporaryDirectory() as tmp:  # tmp_path's parents are 0700: use a 0755 dir
        base = Path(tmp)
        base.chmod(0o755)
        write_zone(base, "intel-rapl:0", "package-0", 10)
        for path in (base / "intel-rapl:0", *(base / "intel-rapl:0").iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o444)
        (base / "intel-rapl:0" / "energy_uj").chmod(0o400)
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
            "from core.energy.backends import rapl; d = rapl.discover(Path(sys.argv[2])); "
            "print(d.status); print(*d.notes, sep='\\n')"
        )
        child = subprocess.run([python, "-c", code, str(project), str(base)], user=65534,
                               capture_output=True, text=True, cwd="/", timeout=60)
    if child.returncode != 0:
        pytest.skip(f"the unprivileged child could not run greenstack: {child.stderr[-300:]}")
    status, *notes = child.stdout.splitlines()
    assert status == "unreadable"
    assert any("needs root or a udev rule" in n for n in notes)
