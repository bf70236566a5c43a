"""A throw-away PostgreSQL server from Debian's ``postgresql`` package, for Airflow's metadata database.

``PostgresServer`` initdb's its own data directory, runs ``postgres`` directly (no ``pg_ctl``, no
cluster wrapper) on a free port of 127.0.0.1 as the server's own child process, so it is stopped and
restarted by that PID. As root it runs as the ``postgres`` user (initdb and postgres refuse root).
Authentication is ``trust`` on 127.0.0.1 only: the server is private to one test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresError", "PostgresServer", "find_postgres_bin"]

# Debian puts the server binaries in /usr/lib/postgresql/<major>/bin (only psql and friends go on PATH).
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message carries its log's tail."""


def find_postgres_bin() -> Path:
    """The newest PostgreSQL server bin directory (``initdb``, ``postgres``); raise if none is installed."""
    found = [Path(p) for p in glob.glob(_BIN_GLOB) if (Path(p) / "initdb").exists() and (Path(p) / "postgres").exists()]
    for name in ("initdb", "postgres"):  # another layout: both on PATH
        on_path = shutil.which(name)
        if on_path:
            found.append(Path(on_path).resolve().parent)
    if not found:
        raise PostgresError(
            f"no PostgreSQL server found ({_BIN_GLOB}); run scripts/setup.sh (apt-get install postgresql)"
        )

    def major(path: Path) -> int:
        with contextlib.suppress(ValueError, IndexError):
            return int(path.parts[-2])
        return 0

    return max(found, key=major)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One private PostgreSQL server: ``start()``, ``create_database(name)``, ``url(name)``, ``restart()``, ``stop()``.

    :param base_dir: where the data directory goes (default: a fresh directory under the system temp dir,
        which the ``postgres`` user can reach; pytest's tmp_path is private to root).
    :param port: the TCP port (a free one when None); kept across restarts.
    :param max_connections: Airflow's services, workers and triggerers each hold a small pool.
    """

    def __init__(self, base_dir: Path | None = None, *, port: int | None = None, max_connections: int = 200) -> None:
        self.bin_dir = find_postgres_bin()
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="airflow-pg-"))
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.user = "airflow"
        self.max_connections = max_connections
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._run_as = self._unprivileged_user() if os.geteuid() == 0 else None

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd:
        """The account the server runs as when we are root: ``postgres`` (Debian's package creates it)."""
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise PostgresError("running as root and no 'postgres' or 'nobody' user to run the server as")

    # ------------------------------------------------------------------ set-up
    def _popen_user(self) -> dict[str, int]:
        """``Popen`` arguments that drop to the server's account (empty when not root)."""
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def initdb(self) -> None:
        """Create the data directory (owned by the server's account) with trust auth on 127.0.0.1."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            os.chmod(self.base_dir, 0o755)
            os.chown(self.base_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        cmd = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, cwd=self.base_dir, check=False, **self._popen_user()
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )

    # ------------------------------------------------------------------ life cycle
    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 60) -> PostgresServer:
        """Start the server (initdb first if needed) and wait until it accepts connections."""
        if self.pid is not None:
            raise PostgresError(f"PostgreSQL already runs (pid {self.pid})")
        if not (self.data_dir / "PG_VERSION").exists():
            self.initdb()
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-h",
                    self.host,
                    "-k",
                    str(self.data_dir),  # the Unix socket stays in our own directory
                    "-c",
                    f"max_connections={self.max_connections}",
                    "-c",
                    "fsync=off",  # a throw-away test database: durability across a power cut is not tested
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "shared_buffers=64MB",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                start_new_session=True,
                **self._popen_user(),
            )
        finally:
            log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Wait until a connection to the ``postgres`` database succeeds."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = self.proc.returncode if self.proc else None
                raise PostgresError(f"postgres exited with {code}\n{self.log_tail()}")
            try:
                with contextlib.closing(self.connect("postgres")) as conn, conn.cursor() as cur:
                    cur.execute("SELECT 1")
                return
            except Exception as error:  # psycopg2.OperationalError while starting up
                last = error
                time.sleep(0.2)
        raise PostgresError(f"PostgreSQL not ready after {timeout} s: {last}\n{self.log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown by PID (SIGINT: disconnect clients, roll back, stop); SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self, down_seconds: float = 0.0, timeout: float = 60) -> float:
        """Stop, stay down ``down_seconds``, start again on the same port and data; return the seconds it was down."""
        began = time.monotonic()
        self.stop()
        time.sleep(down_seconds)
        self.start(timeout)
        self.restarts += 1
        return time.monotonic() - began

    def cleanup(self) -> None:
        """Stop the server and remove a data directory this object created."""
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # ------------------------------------------------------------------ databases
    def connect(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        """A psycopg2 connection (autocommit) to ``dbname``."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname, connect_timeout=5)
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> str:
        """Create database ``name`` (if missing); return its SQLAlchemy URL."""
        # Not ``with conn``: psycopg2 opens a transaction block there, and CREATE DATABASE refuses one.
        with contextlib.closing(self.connect("postgres")) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of ``dbname`` (psycopg2 driver)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{dbname}"

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"<cannot read {self.log_path}: {error}>"

    def __enter__(self) -> PostgresServer:
        """``with PostgresServer() as pg:`` starts it and removes it afterwards."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop and clean up."""
        self.cleanup()
