"""`greenstack tiles run --scheduler` on a real Dask cluster: a `dask scheduler` and two
`dask worker` processes on loopback, each in its own folder (as on other machines).

The loss map and confidence COGs must be byte-identical to a local (in-process LocalCluster) run
of the same job, also when one worker is killed (SIGKILL) half-way through: the scheduler gives
its tiles to the surviving worker and the job finishes. The CLI runs from its own folder with
relative paths, as a user types them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.e2e_stack import PROJECT_ROOT, ZONE, free_port, log_tail, stop

pytestmark = pytest.mark.e2e

OSCD = PROJECT_ROOT / "data" / "satellite" / "oscd_aguasclaras"
OUTPUTS = ("lossmap.tif", "confidence.tif")
CLUSTER_START_S = 60.0
JOB_TIMEOUT_S = 300
TILE_PX = 32  # 64 tiles of the 256 x 256 px scene: long enough to kill a worker half-way


@dataclass(frozen=True)
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: tuple[subprocess.Popen, ...]
    logs: Path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSTACK_")}
    # Workers unpickle apps.deforestation.batch.process_tile: they import this checkout's code.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _spawn(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=fh, stderr=subprocess.STDOUT)


def _wait_for_workers(address: str, n: int, procs: list[subprocess.Popen], logs: Path) -> None:
    from distributed import Client

    deadline = time.monotonic() + CLUSTER_START_S
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            pytest.fail(f"a cluster process exited with {dead[0].returncode}:\n"
                        + "\n".join(log_tail(f, 2000) for f in sorted(logs.glob("*.log"))))
        try:
            with Client(address, timeout=5) as c:
                c.wait_for_workers(n, timeout=5)
                return
        except (OSError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"{n} workers did not join {address} within {CLUSTER_START_S:.0f} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`dask scheduler` + two single-thread `dask worker` processes (no nanny: a kill is final)."""
    root = tmp_path_factory.mktemp("dask")
    logs = root / "logs"
    logs.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    procs = [_spawn([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"], root / "scheduler", logs / "scheduler.log")]
    try:
        for i in range(2):
            procs.append(_spawn([*dask, "worker", address, "--name", f"w{i}", "--nthreads", "1",
                                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                 "--local-directory", str(root / f"w{i}" / "scratch")],
                                root / f"w{i}", logs / f"w{i}.log"))
        _wait_for_workers(address, 2, procs, logs)
        yield Cluster(address, procs[0], tuple(procs[1:]), logs)
    finally:
        for p in reversed(procs):
            stop(p)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's folder: scenes and trained weights, no project files."""
    from apps.deforestation.model import save
    from tests.apps.deforestation.tiny_pair import train_tiny_pair

    d = tmp_path_factory.mktemp("user")
    shutil.copytree(OSCD, d / "scenes")
    _teacher, student = train_tiny_pair()  # a real (tiny) teacher → student run
    (d / "models" / "deforestation").mkdir(parents=True)
    save(student, d / "models" / "deforestation" / "student.pt")
    return d


def _tiles_run(workdir: Path, out: str, scheduler: str | None = None,
               background: bool = False) -> subprocess.Popen | dict:
    env = _env()
    env.update(GREENSTACK_ZONE=ZONE, GREENSTACK_CACHE_DIR=str(workdir / ".greenstack"),
               GREENSTACK_MODELS_DIR="models")
    cmd = [sys.executable, "-m", "apps.cli", "tiles", "run", "--before", "scenes/imgs_1",
           "--after", "scenes/imgs_2", "--out", out, "--model", "student",
           "--tile-px", str(TILE_PX), "--overlap-px", str(TILE_PX // 2), "--mmu-ha", "0",
           "--json"]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    log = workdir / f"{out}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if background:
        return proc
    return _finish(proc, log)


def _finish(proc: subprocess.Popen, log: Path) -> dict:
    try:
        rc = proc.wait(timeout=JOB_TIMEOUT_S)
    finally:
        stop(proc)
    text = log.read_text(errors="replace")
    assert rc == 0, text[-4000:]
    return json.loads(text[text.index("{"):])


@pytest.fixture(scope="module")
def local(workdir: Path) -> dict:
    """The reference: the same job without --scheduler (an in-process LocalCluster)."""
    return _tiles_run(workdir, "local")


def _digests(job: Path) -> dict[str, str]:
    return {name: hashlib.sha256((job / name).read_bytes()).hexdigest() for name in OUTPUTS}


def test_cluster_run_is_byte_identical_to_a_local_run(cluster: Cluster, workdir: Path,
                                                      local: dict) -> None:
    remote = _tiles_run(workdir, "cluster", cluster.address)
    assert local["tiles_total"] == remote["tiles_done"] == 64 and remote["failed"] == []
    assert _digests(workdir / "cluster") == _digests(workdir / "local")
    assert remote["account"] == local["account"]
    # The client's meter cannot see the workers: the result (and the ledger note) says how many
    # tasks ran elsewhere and their CPU time; the in-process run has none.
    assert remote["remote_tasks"] == 64 and remote["remote_cpu_s"] > 0
    assert local["remote_tasks"] == 0 and local["remote_cpu_s"] == 0
    # Both workers computed tiles: the job really ran on the cluster, not in the client.
    from distributed import Client

    with Client(cluster.address, timeout=10) as c:
        stored = c.run(lambda: len(__import__("apps.deforestation.batch").deforestation.batch
                                   ._MODELS))
    assert sorted(stored.values()) == [1, 1], stored


def test_job_survives_a_worker_killed_mid_job(cluster: Cluster, workdir: Path,
                                              local: dict) -> None:
    total = local["tiles_total"]
    proc = _tiles_run(workdir, "killed", cluster.address, background=True)
    records = workdir / "killed" / "tiles"
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not list(records.glob("*.json")):
        assert proc.poll() is None, log_tail(workdir / "killed.log")
        assert time.monotonic() < deadline, "no tile finished"
        time.sleep(0.01)
    victim = cluster.workers[1]
    victim.send_signal(signal.SIGKILL)  # a machine lost mid-job: no goodbye to the scheduler
    victim.wait(timeout=10)
    done_at_kill = len(list(records.glob("r*.json")))
    assert done_at_kill < total, "the job ended before the kill; make it longer"
    result = _finish(proc, workdir / "killed.log")
    # A tile the victim finished just before dying is rerun and finds its record: "skipped".
    assert result["failed"] == [] and result["tiles_done"] + result["tiles_skipped"] == total
    assert _digests(workdir / "killed") == _digests(workdir / "local")
    assert not list(records.glob("*.tmp"))  # a task cut mid-write leaves no partial file
    assert result["account"] == local["account"]
    scheduler_log = (cluster.logs / "scheduler.log").read_text(errors="replace")
    assert "Remove worker" in scheduler_log or "removed" in scheduler_log.lower(), scheduler_log[-2000:]
