"""Rebuild ``cpu_power.csv`` from CodeCarbon's MIT-licensed CPU TDP table plus our own rows.

Run: ``python -m core.energy.build_cpu_power_table PATH/TO/codecarbon/data/hardware/cpu_power.csv``
(CodeCarbon is a benchmark extra: ``pip install codecarbon``). Not imported at run time.
Rows whose TDP is not a positive number (five in codecarbon 3.3.2, e.g. ``27.29.5``) are dropped.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

CODECARBON_SOURCE = "codecarbon-3.3.2 data/hardware/cpu_power.csv (MIT)"
# Rows we add. A "generic:" source marks a row that stands for a family, not a known SKU; the
# CPU model copies that label into every Measurement's notes.
EXTRA_ROWS = [
    # Firecracker-style hypervisors mask the brand string to "AMD EPYC" (this dev VM: family 26,
    # i.e. Zen 5). The SKU is unknown, so the per-thread share of AMD's Zen 5 flagship is used.
    ("AMD EPYC", "500", "256",
     "generic: brand masked by the hypervisor; per-thread share of AMD EPYC 9755 "
     "(Zen 5, 128 cores / 256 threads, 500 W default TDP, AMD product page 2024)"),
]


def build(codecarbon_csv: Path, out: Path) -> int:
    """Write the merged table; returns the number of rows written."""
    rows: list[tuple[str, str, str, str]] = []
    with codecarbon_csv.open(newline="") as f:
        for rec in csv.DictReader(f):
            try:
                tdp_w = float(rec["TDP"])
            except ValueError:
                continue
            if tdp_w > 0:
                rows.append((rec["Name"].strip(), f"{tdp_w:g}", "", CODECARBON_SOURCE))
    rows.extend(EXTRA_ROWS)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "tdp_w", "threads", "source"])
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    n = build(Path(sys.argv[1]), Path(__file__).with_name("cpu_power.csv"))
    print(f"wrote {n} rows")
