"""A throwaway PostgreSQL cluster for tests: initdb in a temp folder, a free loopback port.

The cluster lives in its own ``/tmp/greenstack-pg-*`` folder (data, unix socket, log), listens on
127.0.0.1 only, trusts local connections (nothing else can reach it), and is stopped and removed
when the test session ends. PostgreSQL refuses to run as root, so under root the server runs as
the ``postgres`` OS user that Debian's ``postgresql`` package creates (via ``runuser``); the
folder is handed to that user. The binaries come from PATH or Debian's
``/usr/lib/postgresql/<version>/bin``; ``.ci/run`` installs them where they are missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "greenstack"  # the cluster's bootstrap role (initdb -U), not an OS user
RUN_AS_WHEN_ROOT = "postgres"  # Debian's postgresql package creates this OS user
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class PgServer:
    """A running throwaway cluster."""

    root: Path
    port: int
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"gs_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing its remaining sessions."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self._dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: PATH first, then Debian's versioned folders."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return debian[-1].parent if debian else None


def unavailable_reason() -> str | None:
    """Why a cluster cannot start here, or None when it can."""
    if find_bin_dir() is None:
        return ("PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in "
                "/usr/lib/postgresql/*/bin; install Debian's postgresql (`.ci/run` does)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS_WHEN_ROOT)
        except KeyError:
            return (f"running as root needs the '{RUN_AS_WHEN_ROOT}' OS user (PostgreSQL refuses "
                    "root); Debian's postgresql package creates it")
        if shutil.which("runuser") is None:
            return "running as root needs `runuser` (util-linux) to start PostgreSQL as postgres"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed; `pip install -e '.[dev]'` installs it"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", RUN_AS_WHEN_ROOT, "--", *cmd]
    return cmd


def _run(cmd: list[str], root: Path) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, cwd=root,
                          timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        log = (root / "server.log").read_text(errors="replace")[-3000:] if (
            root / "server.log").exists() else ""
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n"
                           f"{done.stderr}\n{log}")


def start() -> PgServer:
    """initdb + pg_ctl start on a free loopback port; call :func:`stop` afterwards."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError(unavailable_reason())
    root = Path(tempfile.mkdtemp(prefix="greenstack-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(RUN_AS_WHEN_ROOT)
        os.chown(root, user.pw_uid, user.pw_gid)
    data_dir = root / "data"
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER,
              "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"], root)
        for attempt in range(3):  # the free port can be taken before the server binds it
            server = PgServer(root=root, port=_free_port(), bin_dir=bin_dir)
            # Throwaway data: no fsync; small buffers on a shared CI box.
            options = (f"-c listen_addresses=127.0.0.1 -p {server.port} "
                       f"-c unix_socket_directories={root} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off "
                       "-c shared_buffers=16MB -c max_connections=200")
            try:
                _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l",
                      str(root / "server.log"), "-o", options, "-w", "-t",
                      str(START_TIMEOUT_S), "start"], root)
                return server
            except RuntimeError:
                if attempt == 2:
                    raise
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def stop(server: PgServer) -> None:
    """Stop the server (immediate: the data is thrown away) and remove its folder."""
    try:
        subprocess.run(_as_server_user([str(server.bin_dir / "pg_ctl"), "-D",
                                        str(server.data_dir), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=START_TIMEOUT_S, cwd=server.root)
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


BACKENDS = ("sqlite", "postgresql")


def url_for(request: pytest.FixtureRequest, backend: str) -> str:
    """A fresh ledger URL on ``backend``: a SQLite file in tmp_path or a new PostgreSQL database."""
    if backend == "postgresql":
        return request.getfixturevalue("pg_url")
    if backend != "sqlite":
        raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")
    return f"sqlite:///{request.getfixturevalue('tmp_path') / 'ledger.db'}"
