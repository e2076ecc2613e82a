"""Overhead of metering a busy workload: greenstack's Meter window vs CodeCarbon's offline tracker.

Run: ``.venv/bin/python benchmarks/energy_overhead.py [--rounds 5] [--work 3000000]``.
The same single-threaded pure-Python workload runs untracked, inside ``meter.window(...)``,
inside a window with the 10 Hz sampling thread running (a power-only fake GPU: the thread's own
cost, not the NVML call's), and between ``OfflineEmissionsTracker.start()/stop()``
(country_iso_code set, nothing saved, no network). Modes are interleaved round by round and the
medians of wall time and process CPU time (all threads) are compared with the untracked run.
Tracker construction is timed separately: it is paid once per process, not per window.
The machine is shared, so wall-time ratios carry noise of a few percent; the CPU-time ratio and
the per-window cost (microseconds, measured over many empty windows) are the sharper figures.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.energy import Meter  # noqa: E402
from core.energy.backends import nvml  # noqa: E402


def workload(n: int) -> int:
    """Busy CPU work: sum of squares, pure Python, one thread."""
    total = 0
    for i in range(n):
        total += i * i
    return total


class _PowerOnlyGpu:
    """A pynvml-shaped module with one device that has no energy counter (forces sampling)."""

    class NVMLError(Exception):
        value = 0

    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NO_PERMISSION = 4

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "power-only fake"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        err = self.NVMLError("not supported")
        err.value = self.NVML_ERROR_NOT_SUPPORTED
        raise err

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 150_000

    def nvmlShutdown(self) -> None:
        pass


def _codecarbon_tracker() -> Any | None:
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        return None
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    return OfflineEmissionsTracker(country_iso_code="USA", save_to_file=False, log_level="error")


class _CodecarbonWindow(AbstractContextManager[None]):
    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def __enter__(self) -> None:
        self.tracker.start()

    def __exit__(self, *exc: object) -> None:
        self.tracker.stop()


def _timed(ctx: Callable[[], AbstractContextManager[Any]], n: int) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with ctx():
        workload(n)
    return time.perf_counter() - wall0, time.process_time() - cpu0


def _window_cost_us(meter: Meter, repeats: int = 20_000) -> float:
    with meter.window("warm-up"):
        pass
    t0 = time.perf_counter()
    for _ in range(repeats):
        with meter.window("empty"):
            pass
    return (time.perf_counter() - t0) / repeats * 1e6


def _sampler_cpu_share(meter: Meter, idle_s: float = 2.0) -> float:
    """CPU seconds per wall second the process spends while only the sampler thread works."""
    with meter.window("idle"):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(idle_s)
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu_s / wall_s


def _build_modes() -> tuple[
    dict[str, Callable[[], AbstractContextManager[Any]]], list[str], float
]:
    info: list[str] = []
    t0 = time.perf_counter()
    meter = Meter()
    meter.probe_report()
    info.append(f"greenstack Meter() + probe: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    window_us = _window_cost_us(meter)
    info.append(f"greenstack window enter+exit: {window_us:.1f} us "
                "(CPU/RAM model backends, this machine)")
    fake = _PowerOnlyGpu()
    sampled = Meter([nvml.NvmlBackend(fake, nvml.discover(fake, None)), *meter.backends])
    info.append(f"10 Hz sampler thread alone: {_sampler_cpu_share(sampled):.3%} of one core "
                "(process CPU while the main thread sleeps 2 s in a window; budget 0.5 %)")
    modes: dict[str, Callable[[], AbstractContextManager[Any]]] = {
        "untracked": nullcontext,
        "greenstack window": lambda: meter.window("bench", unit="run"),
        "greenstack + 10 Hz sampler": lambda: sampled.window("bench", unit="run"),
    }
    t0 = time.perf_counter()
    tracker = _codecarbon_tracker()
    if tracker is None:
        info.append("codecarbon: not installed; pip install 'greenstack[bench]' to compare")
    else:
        info.append(f"codecarbon OfflineEmissionsTracker(): {(time.perf_counter() - t0):.2f} s")
        modes["codecarbon offline"] = lambda: _CodecarbonWindow(tracker)
    return modes, info, window_us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=int, default=3_000_000, help="loop iterations")
    args = parser.parse_args(argv)
    modes, info, window_us = _build_modes()
    walls: dict[str, list[float]] = {m: [] for m in modes}
    cpus: dict[str, list[float]] = {m: [] for m in modes}
    workload(args.work // 10)  # warm caches before the first timed round
    for r in range(args.rounds):
        names = list(modes)
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order
            wall_s, cpu_s = _timed(modes[name], args.work)
            walls[name].append(wall_s)
            cpus[name].append(cpu_s)
    base_wall, base_cpu = statistics.median(walls["untracked"]), statistics.median(cpus["untracked"])
    print(f"workload: sum of squares over {args.work:,} ints, {args.rounds} interleaved rounds")
    print(*info, sep="\n")
    print(f"{'mode':<28}{'wall s':>9}{'tracked/untracked':>19}{'CPU s':>9}{'CPU ratio':>11}")
    for name in modes:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:<28}{wall:9.3f}{wall / base_wall:19.4f}{cpu:9.3f}{cpu / base_cpu:11.4f}")
    print(f"deterministic part: one greenstack window costs {window_us:.0f} us = "
          f"{window_us / 1e6 / base_wall:.5%} of the untracked wall time (budget 1 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
