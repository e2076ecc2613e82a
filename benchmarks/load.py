"""Bounded loopback load on the two serving endpoints stakeholders call most.

- ``POST /v1/maintenance/predict``: one engine's last 30 real C-MAPSS FD001 test cycles.
- ``GET /v1/cooling/sites/{site}/zones/{zone}/recommendation`` after posting real-looking
  telemetry for the zone.

Prints throughput (requests/s) and p50/p99 latency per endpoint, plus errors. By default it starts
``greenstack serve`` on a free loopback port with your settings (run ``make demo`` or
``greenstack run maintenance`` / ``greenstack run cooling`` first so models exist) and creates a
temporary ``read control compute`` API key in the ledger, revoked at the end. ``--url`` and ``--token``
aim it at a server that is already running.

    GREENSTACK_ZONE=US-CISO .venv/bin/python benchmarks/load.py --requests 300 --concurrency 4
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CMAPSS_TEST = ROOT / "data" / "cmapss" / "test_FD001.txt.gz"
WINDOW_CYCLES = 30


@dataclass(frozen=True)
class LoadResult:
    """Latencies (s) of successful requests, error count and wall time of one endpoint's run."""

    name: str
    latencies_s: tuple[float, ...]
    errors: int
    wall_s: float
    first_error: str

    def line(self) -> str:
        ok = len(self.latencies_s)
        if not ok:
            return f"{self.name:34s} all {self.errors} requests failed: {self.first_error}"
        ordered = sorted(self.latencies_s)
        p50 = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
        return (f"{self.name:34s} {ok / self.wall_s:8.1f} req/s   p50 {p50 * 1e3:7.1f} ms   "
                f"p99 {p99 * 1e3:7.1f} ms   ok {ok:5d}   errors {self.errors}")


def engine_windows(n_engines: int) -> list[dict]:
    """The last WINDOW_CYCLES cycles of the first engines of the shipped FD001 test split."""
    by_unit: dict[int, list[list[float]]] = {}
    with gzip.open(CMAPSS_TEST, "rt") as f:
        for line in f:
            values = [float(v) for v in line.split()]
            by_unit.setdefault(int(values[0]), []).append(values[2:])  # drop unit, cycle
    units = sorted(by_unit)[:n_engines]
    return [{"unit": u, "rows": by_unit[u][-WINDOW_CYCLES:]} for u in units]


def run_load(name: str, call: Callable[[httpx.Client, int], httpx.Response], base_url: str,
             headers: dict[str, str], requests: int, concurrency: int) -> LoadResult:
    """``requests`` calls spread over ``concurrency`` threads, one keep-alive client each."""
    clients = [httpx.Client(base_url=base_url, headers=headers, timeout=120)
               for _ in range(concurrency)]
    errors: list[str] = []

    def one(i: int) -> float | None:
        start = time.perf_counter()
        r = call(clients[i % concurrency], i)
        elapsed = time.perf_counter() - start
        if r.status_code >= 400:
            errors.append(f"{r.status_code} {r.text[:300]}")
            return None
        return elapsed

    for i in range(concurrency):  # warm-up: model load, first import, connection setup
        one(i)
    errors.clear()
    wall_start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    wall_s = time.perf_counter() - wall_start
    for c in clients:
        c.close()
    latencies = tuple(r for r in results if r is not None)
    return LoadResult(name, latencies, len(errors), wall_s, errors[0] if errors else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(workers: int):
    """``greenstack serve`` on a free loopback port; yields its base URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "apps.cli", "serve", "--port", str(port),
           "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"server exited ({proc.returncode}):\n{proc.stderr.read()[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def temporary_key():
    """A ``read control compute`` key in the configured ledger, revoked afterwards."""
    from apps.api.auth import ApiKeyStore
    from apps.settings import Settings
    from core.ledger import Ledger

    store = ApiKeyStore(Ledger(Settings().resolved_ledger_url()).engine)
    created = store.create(["read", "control", "compute"], name="benchmarks/load.py")
    try:
        yield created.token
    finally:
        store.revoke(created.key.key_id)


def _cooling_telemetry(client: httpx.Client, site: str, zones: list[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    for i, zone in enumerate(zones):
        body = {"zone": zone, "timestamp": now,
                "points": {"Zone_Air_Temperature_Sensor": 24.0 + 0.3 * i,
                           "Outside_Air_Temperature_Sensor": 31.0,
                           "Zone_Air_Temperature_Setpoint": 23.0,
                           "Occupancy_Sensor": 1.0}}  # fmt: skip
        r = client.post(f"/v1/cooling/sites/{site}/telemetry", json=body)
        if r.status_code >= 400:
            print(f"cooling telemetry rejected: {r.status_code} {r.text[:300]}", file=sys.stderr)


def benchmark(base: str, token: str, requests: int, concurrency: int) -> list[LoadResult]:
    """Run both endpoint loads against ``base``."""
    headers = {"Authorization": f"Bearer {token}"}
    engines = engine_windows(16)
    results = [run_load(
        "POST /v1/maintenance/predict",
        lambda c, i: c.post("/v1/maintenance/predict",
                            json={"subset": "FD001", "engines": [engines[i % len(engines)]]}),
        base, headers, requests, concurrency,
    )]  # fmt: skip
    site, zones = "bench-site", [f"zone-{k}" for k in range(4)]
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        _cooling_telemetry(client, site, zones)
    results.append(run_load(
        "GET  /v1/cooling/.../recommendation",
        lambda c, i: c.get(f"/v1/cooling/sites/{site}/zones/{zones[i % len(zones)]}/recommendation"),
        base, headers, requests, concurrency,
    ))  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--token",
                        help="API key with read+control+compute (default: a temporary one)")
    parser.add_argument("--requests", type=int, default=200, help="per endpoint (bounded)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers when starting one")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 64:
        parser.error("--requests must be 1..100000 and --concurrency 1..64")
    if not os.environ.get("GREENSTACK_ZONE") and not args.url:
        parser.error("set GREENSTACK_ZONE (e.g. US-CISO) so the server can start")
    print(f"{args.requests} requests per endpoint, concurrency {args.concurrency}, loopback, "
          f"{os.cpu_count()} logical CPUs")
    with (temporary_key() if not args.token else _given(args.token)) as token:
        server = _given(args.url) if args.url else local_server(args.workers)
        with server as base:
            print(f"server {base} (workers: {'external' if args.url else args.workers})")
            results = benchmark(base, token, args.requests, args.concurrency)
    for r in results:
        print(r.line())
    failed = [r for r in results if r.errors]
    for r in failed:
        print(f"  first error of {r.name.strip()}: {r.first_error}", file=sys.stderr)
    return 1 if any(not r.latencies_s for r in results) else 0


@contextmanager
def _given(value: str):
    yield value


if __name__ == "__main__":
    sys.exit(main())
