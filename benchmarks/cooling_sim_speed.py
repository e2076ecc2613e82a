"""Simulator speed: one year at 15-minute steps (35 040 steps) for the office and the data hall,
each also with a chilled-water tank stepped alongside (charging at night, discharging by day).

Target (issue 6): under 2 s per simulated year. Prints wall seconds per year and the ratio to
the target, side by side; run with `python benchmarks/cooling_sim_speed.py` from the repo root.
"""

from __future__ import annotations

import time
from pathlib import Path

from apps.cooling.scenario import make_building
from apps.cooling.storage import Tank, TankParams
from apps.cooling.weather import read_weather

TARGET_S = 2.0
WEATHER = Path(__file__).resolve().parents[1] / "data" / "weather" / "USA_AZ_Phoenix-Sky.Harbor.epw.gz"


def year_seconds(kind: str, repeats: int = 3, tank_kwh: float = 0.0) -> tuple[float, float]:
    """(best wall seconds of the step loop, seconds to build the drivers) for one year."""
    weather = read_weather(WEATHER)
    building = make_building(kind)
    t0 = time.perf_counter()
    drivers = building.drivers(weather, 900.0)
    prep_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        building.reset(24.0)
        t0 = time.perf_counter()
        tank = Tank(TankParams(tank_kwh)) if tank_kwh else None
        for k in range(len(drivers.temp_out_c)):
            out = building.step(drivers, k, 24.0 if drivers.occupied[k] else 28.0, 900.0)
            if tank is not None:
                command = 1.0 if drivers.occupied[k] == 0 else -1.0
                tank.step(command, out.cooling_w * (1 - out.free_cooling), building.cooling_capacity_w,
                          900.0)
        best = min(best, time.perf_counter() - t0)
    return best, prep_s


def main() -> None:
    print(f"{'building':14s} {'steps':>6s} {'year_s':>8s} {'drivers_s':>9s} {'target_s':>8s} {'ratio':>7s}")
    for kind, tank_kwh in (("office", 0.0), ("office", 200.0), ("datahall", 0.0),
                           ("datahall", 4000.0)):
        year_s, prep_s = year_seconds(kind, tank_kwh=tank_kwh)
        total = year_s + prep_s
        label = kind if not tank_kwh else f"{kind}+tank"
        print(f"{label:14s} {35040:6d} {year_s:8.3f} {prep_s:9.3f} {TARGET_S:8.1f} "
              f"{TARGET_S / total:6.1f}x")


if __name__ == "__main__":
    main()
