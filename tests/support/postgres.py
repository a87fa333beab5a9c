"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, start, hand out databases, stop.

The cluster listens on a Unix socket in its own temp dir only (no TCP port, so
nothing to collide with), trusts local connections as ``postgres``, and trades
durability for speed (fsync off): it lives for one test session.

PostgreSQL refuses to run as root. When the tests run as root (as in our
containers), ``initdb`` and ``pg_ctl`` run as the unprivileged ``nobody`` user
through ``setpriv`` (util-linux, no PAM, no password prompt), and the temp dir
is handed to that user. Root can still connect: the socket is world-writable
(PostgreSQL's default) and root passes every directory check.

Binaries come from ``/usr/lib/postgresql/*/bin`` (Debian's layout) or ``PATH``.
Without them the tests are skipped with the reason, except when ``CI=true``:
CI must run them, so there they fail.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

__all__ = ["PostgresCluster", "find_postgres_bin", "postgres_cluster", "running_cluster"]

PORT = 5432  # only names the socket file: the cluster listens on no TCP port
SHARED_DATABASE = "waypost_tests"  # holds one schema per test (see create_schema)
START_TIMEOUT = 30.0


@dataclass
class PostgresCluster:
    socket_dir: Path
    port: int = PORT
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={database}"

    def url(self, database: str, schema: str | None = None) -> str:
        """A URL for ``database``, in the plain ``postgresql://`` form users write."""
        url = f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"
        return f"{url}&options=-csearch_path%3D{schema}" if schema else url

    def create_database(self) -> str:
        """A new empty database; its URL. Takes about 0.3 s: prefer ``create_schema``."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self) -> str:
        """A URL whose connections see only a new empty schema (through ``search_path``).

        As isolated as a new database for anything that does not name schemas, in a
        millisecond rather than a third of a second.
        """
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.conninfo(SHARED_DATABASE), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return self.url(SHARED_DATABASE, schema=name)


def find_postgres_bin() -> Path | None:
    """The newest PostgreSQL bin dir with initdb and pg_ctl, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    return next(
        (d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()), None
    )


def _run_as() -> tuple[list[str], int | None, int | None]:
    """Command prefix, uid and gid to run PostgreSQL's tools as a user it accepts."""
    if os.geteuid() != 0:
        return [], None, None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to start PostgreSQL as nobody")
    user = pwd.getpwnam("nobody")
    prefix = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    return [*prefix, "--"], user.pw_uid, user.pw_gid


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(
        command,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
        )


@contextlib.contextmanager
def running_cluster(bindir: Path) -> Iterator[PostgresCluster]:
    """Start a cluster in a new temp dir; stop it and remove the dir on exit, whatever happens."""
    prefix, uid, gid = _run_as()
    # Not pytest's tmp_path: its parent is private to root, and the server runs as nobody.
    root = Path(tempfile.mkdtemp(prefix="waypost-pg-"))
    data = root / "data"
    started = False
    try:
        if uid is not None and gid is not None:
            os.chown(root, uid, gid)
        _run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=root,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = ''\n"
                f"unix_socket_directories = '{root}'\n"
                f"port = {PORT}\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
        started = True  # from here on a server may be running: always stop it
        _run(
            [*ctl, "-l", str(root / "server.log"), "-w", "-t", str(int(START_TIMEOUT)), "start"],
            root,
        )
        cluster = PostgresCluster(root)
        _wait_until_ready(cluster, root / "server.log")
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{SHARED_DATABASE}"')
        yield cluster
    finally:
        if started:
            _stop([*prefix, str(bindir / "pg_ctl"), "-D", str(data)], data, root)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_ready(cluster: PostgresCluster, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with psycopg.connect(cluster.conninfo(), connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                server_log = log.read_text() if log.exists() else ""
                raise RuntimeError(
                    f"PostgreSQL did not accept connections within {START_TIMEOUT}s: {exc}\n"
                    f"{server_log}"
                ) from exc
            time.sleep(0.05)


def _stop(ctl: list[str], data: Path, root: Path) -> None:
    try:
        _run([*ctl, "-m", "fast", "-w", "-t", "30", "stop"], root)
    except (RuntimeError, subprocess.TimeoutExpired):
        # pg_ctl could not stop it: kill the postmaster we started, by the pid it wrote.
        pidfile = data / "postmaster.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = find_postgres_bin()
    if bindir is None:
        reason = (
            "PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin "
            "or on PATH; apt-get install postgresql)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
        pytest.skip(reason)
    with running_cluster(bindir) as cluster:
        yield cluster
