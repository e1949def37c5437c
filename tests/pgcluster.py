"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

`Cluster.start()` finds Debian's PostgreSQL binaries (`/usr/lib/postgresql/<version>/bin`, the
newest), runs `initdb` in a temporary folder, and starts a server listening on 127.0.0.1 at a
free port, with its socket in that folder, so nothing clashes with a server already running.
As root (initdb refuses to run as root) both run as the `postgres` user through
`runuser -u postgres --`, in a folder that user owns. `stop()` stops the server and deletes the
folder. Nothing here is product code: the store itself only ever gets a URL.

    with Cluster.start() as pg:
        url = pg.create_database("monitor_test")   # postgresql://monitor@127.0.0.1:PORT/monitor_test

Roles: the cluster's superuser is `monitor` (trust authentication on 127.0.0.1 only, so no
password is needed or stored); `create_reader(db)` adds a read-only role as docs/deploy.md
describes it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "monitor"
READER = "monitor_reader"


class ClusterError(RuntimeError):
    pass


def find_bindir() -> Path:
    """The newest Debian PostgreSQL's bin folder (initdb, pg_ctl, postgres)."""

    def version(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise ClusterError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
        "apt-get install postgresql (scripts/test does it)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    folder: Path
    port: int
    bindir: Path
    as_postgres: bool

    @classmethod
    def start(cls, settings: dict[str, str] | None = None, fast: bool = True) -> Cluster:
        """initdb + start. `fast`: no fsync (a test cluster loses nothing worth keeping)."""
        bindir = find_bindir()
        as_postgres = os.geteuid() == 0
        folder = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        if as_postgres:
            shutil.chown(folder, "postgres", "postgres")
        os.chmod(folder, 0o700)
        c = cls(folder=folder, port=free_port(), bindir=bindir, as_postgres=as_postgres)
        try:
            c._run(
                "initdb", "-D", str(c.data), "-U", SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
            options = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(c.port),
                "unix_socket_directories": f"'{folder}'",
                "max_connections": "100",
                "shared_buffers": "128MB",
                "logging_collector": "off",
                "TimeZone": "'UTC'",
            }
            if fast:
                options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
            options.update(settings or {})
            with open(c.data / "postgresql.auto.conf", "a") as fh:
                fh.writelines(f"{k} = {v}\n" for k, v in options.items())
            c._run(
                "pg_ctl", "-D", str(c.data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                "start",
            )  # fmt: skip
        except BaseException:
            c.stop()
            raise
        return c

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, tool: str, *args: str) -> str:
        cmd = [str(self.bindir / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.folder)
        if proc.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = (self.folder / "server.log").read_text()[-2000:]
            raise ClusterError(f"{tool} failed: {proc.stderr.strip()[-2000:]}\n{log}")
        return proc.stdout

    def url(self, db: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as con:
            con.execute(statement)  # type: ignore[arg-type]

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (as the superuser, who owns it)."""
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_reader(self, db: str, role: str = READER) -> str:
        """A role that can only read `db`'s tables (the dashboard's); its URL. The grants are
        the ones docs/deploy.md gives."""
        with contextlib.suppress(Exception):
            self.sql(f'CREATE ROLE "{role}" LOGIN')
        for statement in (
            f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"',
            f'GRANT USAGE ON SCHEMA public TO "{role}"',
            f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"',
            f'ALTER DEFAULT PRIVILEGES FOR ROLE "{SUPERUSER}" IN SCHEMA public '
            f'GRANT SELECT ON TABLES TO "{role}"',
        ):
            self.sql(statement, db)
        return self.url(db, role)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ClusterError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(settings: dict[str, str] | None = None, fast: bool = True) -> Iterator[Cluster]:
    cluster = Cluster.start(settings, fast)
    try:
        yield cluster
    finally:
        cluster.stop()


def wait_ready(url: str, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
