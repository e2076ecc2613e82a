"""The greenstack CLI, in-process and as a real subprocess."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.cli import commands as cli
from apps.registry import APP_NAMES
from core.errors import DataError
from core.ledger import Ledger

PROJECT_ROOT = Path(__file__).resolve().parents[3]
GREENSTACK = Path(sys.executable).parent / "greenstack"
HEAVY = ("torch", "pandas", "sqlalchemy", "rasterio", "stable_baselines3", "llama_cpp",
         "streamlit", "dask", "sklearn", "fastapi", "httpx")  # fmt: skip


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean GREENSTACK_* environment; returns the ledger URL."""
    for key in list(os.environ):
        if key.startswith("GREENSTACK_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GREENSTACK_CACHE_DIR", str(tmp_path / "cache"))
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def _measure(url: str, *extra: str, code: str = "sum(range(10**5))") -> int:
    return cli.main(["--ledger-url", url, *extra, "measure", "--app", "t", "--", sys.executable, "-c", code])


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\nfrom apps.cli.commands import build_parser\n"
        "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT,
                         check=True)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "measure" in out.stdout and "ledger" in out.stdout and "zones" in out.stdout


def test_measure_in_process_records_one_row_with_provenance(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _measure(env, "--zone", "FR") == 0
    out = capsys.readouterr().out
    assert "Our World in Data" in out and "g/kWh" in out and "kgCO2e" in out
    [fp] = Ledger(env).footprints()
    assert fp.app == "t" and fp.phase == "batch" and fp.zone == "FR"
    assert fp.method in out and fp.method in ("counter", "power_sampled", "modelled")
    assert fp.cpu_s > 0 and "RUSAGE_CHILDREN" in fp.notes and "exit code 0" in fp.notes


def test_zone_flag_after_command_overrides_env(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENSTACK_ZONE", "DE")
    assert cli.main(["measure", "--zone", "US-ERCO", "--ledger-url", env, "--", sys.executable, "-c", "1"]) == 0
    assert _measure(env) == 0  # env zone
    assert [f.zone for f in Ledger(env).footprints()] == ["US-ERCO", "DE"]


def test_child_exit_code_is_returned_and_still_recorded(env: str) -> None:
    assert _measure(env, "--zone", "FR", code="import sys; sys.exit(3)") == 3
    [fp] = Ledger(env).footprints()
    assert "exit code 3" in fp.notes


@pytest.mark.parametrize("zone_args", [["--zone", "Atlantis"], []])
def test_unknown_or_unset_zone_exits_2_and_leaves_ledger_untouched(
    env: str, zone_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _measure(env, "--zone", "FR") == 0
    # Compare records, not file bytes: in WAL mode a checkpoint may rewrite the main file's header
    # whenever the last connection closes (garbage collection timing), with no record changed.
    before = Ledger(env).footprints()
    capsys.readouterr()
    assert _measure(env, *zone_args) == 2
    err = capsys.readouterr().err
    assert "GREENSTACK_ZONE" in err and "--zone" in err and "Traceback" not in err
    after = Ledger(env).footprints()
    assert after == before and len(after) == 1


def test_bad_input_exits_2(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--zone", "FR", "--ledger-url", env, "measure"]) == 2
    assert "nothing to measure" in capsys.readouterr().err
    assert cli.main(["--zone", "FR", "--pue", "0.5", "--ledger-url", env, "measure", "--", "true"]) == 2
    assert "pue" in capsys.readouterr().err
    assert cli.main(["--zone", "FR", "--ledger-url", env, "measure", "--", "/no/such/binary"]) == 2
    assert Ledger(env).footprints() == []


def test_ledger_formats(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--ledger-url", env, "ledger"]) == 0
    assert "empty" in capsys.readouterr().out
    _measure(env, "--zone", "US-CISO")
    Ledger(env).record_saving(app="t", run_id="x", kind="reuse", co2e_kg=0.5, baseline="b", method="m")
    capsys.readouterr()
    assert cli.main(["--ledger-url", env, "ledger", "--format", "csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["project_name"] == "t" and row["region"] == "US-CISO" and float(row["emissions"]) > 0
    assert cli.main(["--ledger-url", env, "ledger", "--format", "csv", "--table", "savings"]) == 0
    assert "reuse" in capsys.readouterr().out
    assert cli.main(["--ledger-url", env, "ledger", "--format", "json", "--app", "nobody"]) == 0
    assert json.loads(capsys.readouterr().out) == {"footprints": [], "savings": []}
    assert cli.main(["--ledger-url", env, "ledger"]) == 0
    assert "US-CISO" in capsys.readouterr().out


def test_zones_and_report(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["zones", "--search", "erco"]) == 0
    out = capsys.readouterr().out
    assert "US-ERCO" in out and "lifecycle" in out and "FR" not in out.split("\n", 2)[-1]
    _measure(env, "--zone", "FR")
    Ledger(env).record_saving(app="t", run_id="x", kind="monitoring", co2e_kg=9.0, baseline="b", method="m")
    capsys.readouterr()
    assert cli.main(["--ledger-url", env, "report", "--format", "json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["app"] == "t" and report["monitoring"]["co2e_kg"] == 9.0
    assert report["savings"]["co2e_kg"] == 0.0 and report["footprint_kg"] > 0
    assert cli.main(["--ledger-url", env, "report"]) == 0
    assert "payback" in capsys.readouterr().out


def test_report_table_says_when_estimates_were_superseded(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = Ledger(env)
    for kind, kg in (("cooling_control", 10.0), ("reuse", 0.5), ("cooling_control", 12.0),
                     ("reuse", 0.25)):
        ledger.record_saving(app="t", run_id="x", kind=kind, co2e_kg=kg, baseline="b", method="m")
    assert cli.main(["--ledger-url", env, "report"]) == 0
    out = capsys.readouterr().out
    assert "12.75" in out and "22.75" not in out
    assert "t: savings: 3 saving records counted; 1 older estimates superseded" in out
    assert "monitoring:" not in out
    for kg in (9.0, 7.0):  # the same area accounted twice: only the latest counts
        ledger.record_saving(app="t", run_id="x", kind="monitoring", co2e_kg=kg, baseline="area",
                             method="m")
    assert cli.main(["--ledger-url", env, "report"]) == 0
    assert "t: monitoring: 1 records counted; 1 older accountings" in capsys.readouterr().out
    ledger.record_saving(app="u", run_id="y", kind="reuse", co2e_kg=1.0, baseline="b", method="m")
    assert cli.main(["--ledger-url", env, "report", "--app", "u"]) == 0
    assert "superseded" not in capsys.readouterr().out  # nothing left out, nothing to explain


def test_run_all_reports_errors_and_keeps_going(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    def ok(args: argparse.Namespace, ctx_factory: object) -> int:
        calls.append(args.app)
        return 0

    def broken(args: argparse.Namespace, ctx_factory: object) -> int:
        calls.append(args.app)
        raise DataError("fixture data missing")

    root = argparse.ArgumentParser()
    run = root.add_subparsers(dest="command").add_parser("run").add_subparsers(dest="app")
    run.add_parser("first").set_defaults(func=broken)
    run.add_parser("second").set_defaults(func=ok)
    args = argparse.Namespace(_root=root, _apps=("first", "second"))
    assert cli.cmd_run_all(args, lambda: None) == 2
    assert calls == ["first", "second"]
    assert "fixture data missing" in capsys.readouterr().err


def test_run_all_lists_registered_apps_in_suite_order() -> None:
    args = cli.build_parser().parse_args(["run", "all"])
    assert args.func is cli.cmd_run_all
    assert list(args._apps) == [a for a in APP_NAMES if a in args._apps]


def test_real_subprocess_measure_writes_one_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSTACK_")}
    env.update(GREENSTACK_ZONE="US-CISO", GREENSTACK_LEDGER_URL=url, GREENSTACK_CACHE_DIR=str(tmp_path))
    done = subprocess.run([str(GREENSTACK), "measure", "--", sys.executable, "-c", "sum(range(10**6))"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "EIA-930" in done.stdout and "kgCO2e" in done.stdout
    assert len(Ledger(url).footprints()) == 1
    env["GREENSTACK_ZONE"] = "Mordor"
    bad = subprocess.run([str(GREENSTACK), "measure", "--", sys.executable, "-c", "1"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "Mordor" in bad.stderr and "Traceback" not in bad.stderr
    assert len(Ledger(url).footprints()) == 1


def test_measure_with_hourly_csv_states_which_value_was_used(env: str) -> None:
    grid = PROJECT_ROOT / "data" / "grid" / "PJM_NG_avgCI_2022.csv.gz"
    assert cli.main(["--grid-csv", str(grid), "--ledger-url", env, "measure", "--", sys.executable, "-c", "1"]) == 0
    [fp] = Ledger(env).footprints()
    assert fp.zone == "US-PJM" and fp.intensity_method == "hourly_csv"
    # This machine's clock is not in 2022, so the series mean is used, and the record says so.
    assert fp.intensity_at is None and "2022 mean was used" in fp.notes
