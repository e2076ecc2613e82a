"""How long ``import core.energy`` takes, side by side with ``import codecarbon``.

Run: ``.venv/bin/python benchmarks/import_time.py [--runs 7]``. Each run is a fresh interpreter
with ``-X importtime``; the figure is the cumulative import time of the package (median).
Budget: core.energy < 50 ms, without torch (checked: torch must not be in ``sys.modules``).
"""

from __future__ import annotations

import argparse
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


def heavy_modules_loaded() -> list[str]:
    code = ("import sys, core.energy; "
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
    heavy = heavy_modules_loaded()
    print(f"import core.energy : {ours:7.1f} ms  (median of {args.runs}; budget {BUDGET_MS:.0f} ms;"
          f" {'OK' if ours < BUDGET_MS else 'OVER BUDGET'})")
    print(f"heavy modules pulled in by it: {', '.join(heavy) if heavy else 'none'}")
    if has_module("codecarbon"):
        theirs = statistics.median(import_ms("codecarbon") for _ in range(args.runs))
        print(f"import codecarbon  : {theirs:7.1f} ms  (ratio codecarbon / greenstack = "
              f"{theirs / ours:.1f}x)")
    else:
        print("import codecarbon  : not installed (pip install 'greenstack[bench]' to compare)")
    return 0 if ours < BUDGET_MS and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
