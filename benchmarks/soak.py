"""Soak: minutes of mixed load on loopback against a real `greenstack serve` this script starts.

Every load thread cycles through the same mix of requests, one keep-alive client each:

- ``chat``: ``POST /v1/chat/completions`` (``max_tokens`` 16, rotating questions); every
  ``--cut-every``-th chat request streams with ``max_tokens`` 256 and the client closes the socket
  after the first chunk (``chat-cut``; its latency is time to the first chunk);
- ``predict``: ``POST /v1/maintenance/predict`` with one engine's last 30 real C-MAPSS FD001 test
  cycles;
- ``recommendation``: ``GET /v1/cooling/sites/{site}/zones/{zone}/recommendation``;
- ``telemetry``: ``POST /v1/cooling/sites/{site}/telemetry`` (zone temperature, setpoint,
  occupancy, outdoor temperature, timestamped now);
- ``impact``: ``GET /v1/impact``.

Reports throughput, p50/p99 latency and errors by status per kind and in total, the server's
resident memory (RSS of its process tree) after start-up, after warm-up, every minute and at the
end, and the ledger's row counts before and after. The server runs on a temporary ledger and
cache (a fresh SQLite file; ``--ledger-url`` to use another database) with the models of
``GREENSTACK_MODELS_DIR`` (default ``models/``): run ``greenstack run maintenance`` first so the
predict model exists, or predict answers 503 and the soak reports it. A temporary key with every
non-admin scope is created in that ledger.

    GREENSTACK_ZONE=US-CISO nice -n 10 .venv/bin/python benchmarks/soak.py --minutes 10

Exit status 1 when any request answered 5xx or failed to connect.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import engine_windows  # noqa: E402  (benchmarks/ is a folder of scripts)

ROOT = Path(__file__).resolve().parents[1]
SITE = "soak-site"
ZONES = tuple(f"zone-{k}" for k in range(4))
QUESTIONS = (
    "What is PUE?", "How is kgCO2e computed from kWh?", "What does a quality gate check?",
    "Why distil a model?", "What is carbon intensity?", "What is the SCI score?",
    "What does RAPL measure?", "How does quantisation save energy?", "What is a setpoint?",
    "What is remaining useful life?", "What is marginal emission intensity?",
    "Why schedule jobs at low-carbon hours?",
)
KINDS = ("chat", "chat-cut", "predict", "recommendation", "telemetry", "impact")
# One pass of each load thread: recommendation and telemetry are the cheap, frequent BMS calls.
MIX = ("telemetry", "recommendation", "predict", "impact", "chat", "recommendation", "predict",
       "telemetry", "recommendation")


@dataclass
class KindStats:
    """Latencies of successful requests and counts of every status (or transport error)."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def line(self, name: str, wall_s: float) -> str:
        n = sum(self.statuses.values())
        ok = len(self.latencies_s)
        if not ok:
            return f"{name:15s} {n:6d} requests, none succeeded: {dict(self.statuses)}"
        p50, p99 = percentile(self.latencies_s, 0.50), percentile(self.latencies_s, 0.99)
        bad = {s: c for s, c in sorted(self.statuses.items()) if not s.startswith("2")}
        return (f"{name:15s} {n:6d} req {ok / wall_s:7.2f} ok/s   p50 {p50 * 1e3:8.1f} ms   "
                f"p99 {p99 * 1e3:8.1f} ms   non-2xx {bad or 0}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Load:
    """The shared counters of all load threads."""

    def __init__(self, base: str, token: str, cut_every: int, model: str) -> None:
        self.base, self.token, self.cut_every, self.model = base, token, cut_every, model
        self.stats = {k: KindStats() for k in KINDS}
        self.lock = threading.Lock()
        self.chat_seq = itertools.count()
        self.engines = engine_windows(16)
        self.first_errors: dict[str, str] = {}

    def record(self, kind: str, status: str, elapsed_s: float, detail: str = "") -> None:
        with self.lock:
            self.stats[kind].statuses[status] += 1
            if status.startswith("2"):
                self.stats[kind].latencies_s.append(elapsed_s)
            elif kind not in self.first_errors:
                self.first_errors[kind] = f"{status} {detail[:300]}"

    def one(self, client: httpx.Client, kind: str, i: int) -> None:
        if kind == "chat":
            n = next(self.chat_seq)
            if self.cut_every and n % self.cut_every == self.cut_every - 1:
                return self._cut_chat(client, n)
        start = time.perf_counter()
        try:
            r = self._send(client, kind, i)
        except httpx.HTTPError as e:
            self.record(kind, f"conn:{type(e).__name__}", time.perf_counter() - start, str(e))
            return
        self.record(kind, str(r.status_code), time.perf_counter() - start, r.text)

    def _send(self, client: httpx.Client, kind: str, i: int) -> httpx.Response:
        if kind == "chat":
            return client.post("/v1/chat/completions", json={
                "model": self.model, "max_tokens": 16,
                "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]})
        if kind == "predict":
            return client.post("/v1/maintenance/predict", json={
                "subset": "FD001", "engines": [self.engines[i % len(self.engines)]]})
        zone = ZONES[i % len(ZONES)]
        if kind == "recommendation":
            return client.get(f"/v1/cooling/sites/{SITE}/zones/{zone}/recommendation")
        if kind == "telemetry":
            return client.post(f"/v1/cooling/sites/{SITE}/telemetry", json=telemetry(zone, i))
        return client.get("/v1/impact")

    def _cut_chat(self, client: httpx.Client, n: int) -> None:
        """Stream a long answer and hang up after the first chunk (a client that goes away)."""
        body = {"model": self.model, "max_tokens": 256, "stream": True,
                "messages": [{"role": "user",
                              "content": f"Explain in detail, step by step: {QUESTIONS[n % 12]}"}]}
        start = time.perf_counter()
        try:
            with client.stream("POST", "/v1/chat/completions", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    self.record("chat-cut", str(r.status_code), 0.0, r.text)
                    return
                next(r.iter_raw())  # first bytes of the event stream, then close the socket
                self.record("chat-cut", "200", time.perf_counter() - start)
        except (httpx.HTTPError, StopIteration) as e:
            self.record("chat-cut", f"conn:{type(e).__name__}", 0.0, str(e))


def telemetry(zone: str, i: int) -> dict:
    return {"zone": zone, "timestamp": datetime.now(UTC).isoformat(),
            "points": {"Zone_Air_Temperature_Sensor": 23.5 + 0.1 * (i % 20),
                       "Outside_Air_Temperature_Sensor": 31.0,
                       "Zone_Air_Temperature_Setpoint": 23.0, "Occupancy_Sensor": 1.0}}


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (uvicorn workers), MiB."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for p in procs:
        with suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(env: dict[str, str], workers: int, log_path: Path) -> Iterator[tuple[str, int]]:
    """``greenstack serve`` on a free loopback port; yields (base URL, pid)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "apps.cli", "serve", "--port", str(port),
           "--workers", str(workers)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def ledger_rows(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("footprints", "savings", "cooling_telemetry") if t in names}
    finally:
        engine.dispose()


def make_key(ledger_url: str) -> str:
    """A key with every non-admin scope (model-running scopes included) in the soak's ledger."""
    from apps.api.auth import SCOPES, ApiKeyStore
    from core.ledger import Ledger

    store = ApiKeyStore(Ledger(ledger_url).engine)
    return store.create([s for s in SCOPES if s != "admin"], name="benchmarks/soak.py").token


def run(load: Load, pid: int, minutes: float, concurrency: int,
        on_minute: Callable[[int, float], None]) -> float:
    """Load threads until the time is up; returns the wall time of the measured phase."""
    stop_at = time.monotonic() + minutes * 60
    headers = {"Authorization": f"Bearer {load.token}"}

    def worker(w: int) -> None:
        with httpx.Client(base_url=load.base, headers=headers, timeout=120) as client:
            for i in itertools.count(w * 7919):
                if time.monotonic() >= stop_at:
                    return
                load.one(client, MIX[i % len(MIX)], i)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    minute = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        if time.monotonic() - start >= 60 * (minute + 1):
            minute += 1
            on_minute(minute, tree_rss_mb(pid))
    for t in threads:
        t.join()
    return time.monotonic() - start


def warm_up(load: Load, workers: int) -> None:
    """Requests of each kind, so models are loaded before RSS and timing start: one round per
    fresh connection, three per worker (the kernel spreads connections over the workers)."""
    headers = {"Authorization": f"Bearer {load.token}"}
    for _ in range(3 * workers if workers > 1 else 1):
        with httpx.Client(base_url=load.base, headers=headers, timeout=300) as client:
            for i, kind in enumerate(("telemetry", "recommendation", "predict", "impact", "chat")):
                load.one(client, kind, i)
    load.stats = {k: KindStats() for k in KINDS}
    load.chat_seq = itertools.count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured load (default 10)")
    parser.add_argument("--concurrency", type=int, default=4, help="load threads")
    parser.add_argument("--cut-every", type=int, default=5,
                        help="every Nth chat request is a stream the client cuts (0: none)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--ledger-url", help="ledger database (default: a fresh temp SQLite)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not 0.1 <= args.minutes <= 180 or not 1 <= args.concurrency <= 64 or args.cut_every < 0:
        parser.error("--minutes must be 0.1..180, --concurrency 1..64, --cut-every >= 0")
    if not os.environ.get("GREENSTACK_ZONE"):
        parser.error("set GREENSTACK_ZONE (e.g. US-CISO) so the server can start")

    with tempfile.TemporaryDirectory(prefix="greenstack-soak-") as tmp:
        ledger_url = args.ledger_url or f"sqlite:///{Path(tmp) / 'ledger.db'}"
        env = dict(os.environ, GREENSTACK_CACHE_DIR=str(Path(tmp) / "cache"),
                   GREENSTACK_LEDGER_URL=ledger_url)
        env.setdefault("GREENSTACK_MODELS_DIR", str(ROOT / "models"))
        token = make_key(ledger_url)
        rows_before = ledger_rows(ledger_url)
        log_path = Path(tmp) / "server.log"
        print(f"soak: {args.minutes:g} min, {args.concurrency} threads, chat cut every "
              f"{args.cut_every}, {args.workers} worker(s), {os.cpu_count()} logical CPUs, "
              f"load average {os.getloadavg()[0]:.1f}, models {env['GREENSTACK_MODELS_DIR']}")
        with server(env, args.workers, log_path) as (base, pid):
            rss = {"started": tree_rss_mb(pid)}
            models = httpx.get(f"{base}/v1/models", timeout=30,
                               headers={"Authorization": f"Bearer {token}"}).json()
            model = models["data"][0]["id"] if models.get("data") else "greenstack"
            load = Load(base, token, args.cut_every, model)
            warm_up(load, args.workers)
            rss["warm"] = tree_rss_mb(pid)
            print(f"server {base} pid {pid}: RSS {rss['started']:.0f} MiB at start, "
                  f"{rss['warm']:.0f} MiB after warm-up", flush=True)

            def on_minute(minute: int, mb: float) -> None:
                rss[f"minute {minute}"] = mb
                done = sum(sum(s.statuses.values()) for s in load.stats.values())
                print(f"  minute {minute:3d}: {done} requests, RSS {mb:.0f} MiB", flush=True)

            wall_s = run(load, pid, args.minutes, args.concurrency, on_minute)
            rss["end"] = tree_rss_mb(pid)
            health = httpx.get(f"{base}/health", timeout=30).status_code
        rows_after = ledger_rows(ledger_url)
        log = log_path.read_text(errors="replace")
        tracebacks = log.count("Traceback")
        if tracebacks:
            first = log.index("Traceback")
            print(f"first traceback in the server log:\n{log[first:first + 4000]}")
    return report(load, wall_s, rss, rows_before, rows_after, health, tracebacks, args.json)


def report(load: Load, wall_s: float, rss: dict[str, float], rows_before: dict[str, int],
           rows_after: dict[str, int], health: int, tracebacks: int, json_path: Path | None) -> int:
    total = KindStats()
    for s in load.stats.values():
        total.latencies_s += s.latencies_s
        total.statuses.update(s.statuses)
    print(f"\n{wall_s:.0f} s of load")
    for kind, s in load.stats.items():
        if s.statuses:
            print(s.line(kind, wall_s))
    print(total.line("all", wall_s))
    print(f"errors by status: {dict(sorted(total.statuses.items()))}")
    for kind, err in load.first_errors.items():
        print(f"  first non-2xx of {kind}: {err}")
    growth = f"end - warm-up {rss['end'] - rss['warm']:+.0f}"
    if "minute 1" in rss:
        growth += f", end - minute 1 {rss['end'] - rss['minute 1']:+.0f}"
    print(f"server RSS MiB: start {rss['started']:.0f}, after warm-up {rss['warm']:.0f}, "
          f"end {rss['end']:.0f} ({growth})")
    print(f"ledger rows before {rows_before}, after {rows_after}; /health after load: {health}; "
          f"tracebacks in the server log: {tracebacks}")
    if json_path:
        json_path.write_text(json.dumps({
            "wall_s": wall_s, "rss_mib": rss, "ledger_rows": [rows_before, rows_after],
            "health_after": health, "server_tracebacks": tracebacks,
            "kinds": {k: {"statuses": dict(s.statuses), "ok": len(s.latencies_s),
                          "p50_s": statistics.median(s.latencies_s) if s.latencies_s else None,
                          "p99_s": percentile(s.latencies_s, 0.99) if s.latencies_s else None}
                      for k, s in load.stats.items()},
        }, indent=1))
    server_side = [s for s in total.statuses if s.startswith("5") or s.startswith("conn")]
    return 1 if server_side or health != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
