"""How long ``import core.energy`` takes, side by side with ``import codecarbon``.

Run: ``.venv/bin/python benchmarks/import_time.py [--runs 7]``. Each run is a fresh interpreter.
Two figures, medians over runs: the cumulative ``-X importtime`` of ``import core.energy``, and —
because the package resolves its public names lazily — the in-process wall time of
``from core.energy import Meter, Measurement`` (what a user's first line really costs).
Budget: both < 50 ms, without torch (checked: torch must not be in ``sys.modules``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 50.0


def import_ms(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter (ms), from -X importtime."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000.0
    raise RuntimeError(f"{module} not found in -X importtime output")


def first_use_ms(statement: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``statement`` in a fresh interpreter, interpreter start excluded.

    On a shared, loaded machine wall time mostly measures waiting for a core; the CPU time is
    the import's own cost and equals the wall time on an idle machine.
    """
    code = ("import time; t, c = time.perf_counter(), time.process_time(); " + statement +
            "; print((time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    return float(out[0]), float(out[1])


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def heavy_modules_loaded() -> list[str]:
    code = ("import sys; from core.energy import Meter, Measurement; "
            "print(' '.join(m for m in ('torch', 'numpy', 'pynvml', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return out.split()


def has_module(module: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                           cwd=ROOT)
    return probe.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    ours = statistics.median(import_ms("core.energy") for _ in range(args.runs))
    use_wall, use_cpu = median_pair(
        [first_use_ms("from core.energy import Meter, Measurement") for _ in range(args.runs)])
    heavy = heavy_modules_loaded()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of {args.runs}"
          f" fresh interpreters; budget {BUDGET_MS:.0f} ms")
    print(f"{'import core.energy (-X importtime)':<48}{ours:7.1f} ms "
          f"{'OK' if ours < BUDGET_MS else 'OVER BUDGET'}")
    print(f"{'from core.energy import Meter, Measurement':<48}{use_cpu:7.1f} ms CPU "
          f"({use_wall:.1f} ms wall) {'OK' if use_cpu < BUDGET_MS else 'OVER BUDGET'}")
    print(f"heavy modules pulled in: {', '.join(heavy) if heavy else 'none'}")
    if has_module("codecarbon"):
        cc_wall, cc_cpu = median_pair([first_use_ms("from codecarbon import OfflineEmissionsTracker")
                                       for _ in range(args.runs)])
        print(f"{'from codecarbon import OfflineEmissionsTracker':<48}{cc_cpu:7.1f} ms CPU "
              f"({cc_wall:.1f} ms wall); codecarbon / greenstack = {cc_cpu / use_cpu:.1f}x CPU, "
              f"{cc_wall / use_wall:.1f}x wall")
    else:
        print("codecarbon: not installed (pip install 'greenstack[bench]' to compare)")
    return 0 if max(ours, use_cpu) < BUDGET_MS and not heavy else 1

if __name__ == "__main__":
    sys.exit(main())
