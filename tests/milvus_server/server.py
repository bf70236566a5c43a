"""Run the real Milvus 2.3 standalone server (PyPI ``milvus`` wheel) as a subprocess for tests."""

from __future__ import annotations

import atexit
import base64
import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import psutil

HOST = "127.0.0.1"
GRPC_PORT = 19530
HEALTH_PORT = 9091
SESSION_PREFIX = b"by-dev/meta/session/"
_REQUIRED_PORTS = (GRPC_PORT, HEALTH_PORT)
# Machine-wide lock held from start() to the final stop() (also across restart()), so that another
# MilvusServer cannot slip into the port gap while this one restarts.
LOCK_PATH = Path(os.environ.get("TMPDIR", "/tmp")) / f"milvus-test-server-{GRPC_PORT}.lock"


# Same as the `milvus-server` console script, except that the wrapper's free-port probe sets
# SO_REUSEADDR: otherwise, right after a stop, TIME_WAIT sockets on 19530/9091/2379 (up to 60 s)
# make the wrapper silently pick other ports. A port with a live listener still fails the probe.
_LAUNCHER = """\
import socket, sys
import milvus

def _try_bind_port(self, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except (OSError, ValueError, OverflowError):
        sock.close()
        return None

milvus.MilvusServerConfig.try_bind_port = _try_bind_port
sys.argv[0] = "milvus-server"
sys.exit(milvus.main())
"""


class MilvusServerError(RuntimeError):
    """The Milvus test server could not be started or stopped cleanly."""


def _port_listening(port: int) -> bool:
    """Return True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def _port_bindable(port: int) -> bool:
    """Return True if 127.0.0.1:port can be bound the way the ``milvus`` wrapper does (no SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def _tail(path: Path, lines: int) -> str:
    """Return the last ``lines`` lines of a text file, or a note if it does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _alive(proc: psutil.Process) -> bool:
    """Return True if the process exists and is not a zombie."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


class MilvusServer:
    """A Milvus 2.3 standalone server started with ``<venv>/bin/milvus-server --data DIR``."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        start_timeout: float = 120.0,
        stop_grace: float = 20.0,
        port_free_timeout: float = 90.0,
        reuse_ports: bool = True,
        session_ttl: int | None = 10,
        lock_timeout: float = 0.0,
        wait_settled: bool = True,
        executable: str | os.PathLike[str] | None = None,
    ) -> None:
        """Configure (not start) a server whose data, config and logs live in ``data_dir``.

        ``reuse_ports=False`` runs the plain ``milvus-server`` script and waits for TIME_WAIT to clear.
        ``session_ttl`` sets ``common.session.ttl`` (stock 30 s; ``None`` keeps it): after a restart the
        dead server's node sessions linger that long, and imports/drops stall until they expire.
        ``lock_timeout``: how long ``start()`` waits for another MilvusServer on this machine to finish.
        ``wait_settled``: after healthy, also wait until the previous process's node sessions expired.
        """
        self.data_dir = Path(data_dir).resolve()
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.port_free_timeout = port_free_timeout
        self.reuse_ports = reuse_ports
        self.session_ttl = session_ttl
        self.lock_timeout = lock_timeout
        self.wait_settled = wait_settled
        self.executable = Path(executable) if executable else self._find_executable()
        # The launcher imports `milvus`: run it with the interpreter the executable was installed for.
        beside = self.executable.parent / "python"
        self.python = beside if beside.exists() else Path(sys.executable)
        self.log_path = self.data_dir / "milvus-server.log"
        self.last_start_seconds: float | None = None
        self.last_stop_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None
        self._lock: IO[str] | None = None
        self._atexit_registered = False

    # ------------------------------------------------------------------ info
    @staticmethod
    def _find_executable() -> Path:
        """Locate ``milvus-server``: $MILVUS_SERVER_EXECUTABLE, next to the running interpreter, else on PATH."""
        if os.environ.get("MILVUS_SERVER_EXECUTABLE"):
            return Path(os.environ["MILVUS_SERVER_EXECUTABLE"])
        candidate = Path(sys.executable).parent / "milvus-server"
        if candidate.exists():
            return candidate
        found = shutil.which("milvus-server")
        if found:
            return Path(found)
        raise MilvusServerError(
            f"milvus-server not found next to {sys.executable} nor on PATH; install `milvus==2.3.5`"
        )

    @property
    def host(self) -> str:
        """Host the server listens on."""
        return HOST

    @property
    def port(self) -> int:
        """gRPC port of the server."""
        return GRPC_PORT

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"{HOST}:{GRPC_PORT}"

    @property
    def uri(self) -> str:
        """URI for pymilvus ``MilvusClient``/``connections.connect(uri=...)``."""
        return f"http://{HOST}:{GRPC_PORT}"

    @property
    def health_url(self) -> str:
        """URL of the health endpoint (answers ``OK`` when ready)."""
        return f"http://{HOST}:{HEALTH_PORT}/healthz"

    @property
    def pid(self) -> int | None:
        """PID of the ``milvus-server`` wrapper (also the process group id), or None if not started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def milvus_pids(self) -> list[int]:
        """PIDs of the wrapper's live descendants (the ``milvus run standalone`` process)."""
        return [p.pid for p in self._milvus_children()]

    def _milvus_children(self) -> list[psutil.Process]:
        """Live (non-zombie) descendants of the wrapper."""
        if self._proc is None:
            return []
        try:
            children = psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [p for p in children if _alive(p)]

    @property
    def running(self) -> bool:
        """True while the wrapper and its ``milvus`` child are alive (the wrapper outlives a dead child)."""
        return self._proc is not None and self._proc.poll() is None and bool(self._milvus_children())

    def log_tail(self, lines: int = 40) -> str:
        """Return the tails of the wrapper log and the server's own stdout/stderr logs."""
        parts = [f"--- {self.log_path} ---", _tail(self.log_path, lines)]
        logs = self.data_dir / "logs"
        paths = [logs / "milvus-stdout.log", logs / "milvus-stderr.log"]
        paths += sorted(logs.glob("standalone-*.log"), key=lambda p: p.stat().st_mtime)[-1:]
        for path in paths:
            if path.exists():
                parts += [f"--- {path} ---", _tail(path, lines)]
        return "\n".join(parts)

    def healthy(self) -> bool:
        """Return True if the health endpoint answers ``OK``."""
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as resp:
                return bool(resp.read().decode("utf-8", "replace").strip() == "OK")
        except (urllib.error.URLError, OSError):
            return False

    def _etcd_port(self) -> int:
        """The embedded etcd client port written by the wrapper into ``configs/milvus.yaml``."""
        text = (self.data_dir / "configs" / "milvus.yaml").read_text(encoding="utf-8")
        match = re.search(r"^\s*endpoints:\s*localhost:(\d+)", text, re.MULTILINE)
        return int(match.group(1)) if match else 2379

    def node_sessions(self) -> list[str]:
        """Session keys registered in the embedded etcd, e.g. ``datanode-2`` (read via etcd's JSON gateway)."""
        end = SESSION_PREFIX[:-1] + bytes([SESSION_PREFIX[-1] + 1])
        body = {
            "key": base64.b64encode(SESSION_PREFIX).decode(),
            "range_end": base64.b64encode(end).decode(),
            "keys_only": True,
        }
        request = urllib.request.Request(
            f"http://{HOST}:{self._etcd_port()}/v3/kv/range", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            kvs = json.load(resp).get("kvs", [])
        return sorted(base64.b64decode(kv["key"]).decode()[len(SESSION_PREFIX) :] for kv in kvs)

    def stale_sessions(self) -> list[str]:
        """Node sessions left by a previous server process (a role with a newer id is registered too)."""
        ids: dict[str, list[int]] = {}
        for key in self.node_sessions():
            role, _, number = key.rpartition("-")
            if role and number.isdigit():
                ids.setdefault(role, []).append(int(number))
        return [f"{role}-{n}" for role, numbers in sorted(ids.items()) for n in sorted(numbers)[:-1]]

    def _wait_settled(self) -> None:
        """Wait until the previous process's node sessions expired (else new imports can hang on them)."""
        ttl = self.session_ttl if self.session_ttl is not None else 30
        deadline = time.monotonic() + ttl + 30
        stale: list[str] | str = "unknown"
        waited = False
        while time.monotonic() < deadline:
            try:
                stale = self.stale_sessions()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                stale = f"etcd not readable: {exc}"
            else:
                if not stale:
                    if waited:
                        time.sleep(1.0)  # let datacoord process the expiry (channel reassignment)
                    return
            waited = True
            time.sleep(0.5)
        raise MilvusServerError(f"stale node sessions did not expire within {ttl + 30} s: {stale}")

    # ------------------------------------------------------------- lifecycle
    def _check_ports(self) -> None:
        """Refuse if something listens on our ports; in stock mode also wait out TIME_WAIT leftovers."""
        for port in _REQUIRED_PORTS:
            if _port_listening(port):
                raise MilvusServerError(
                    f"Port {port} on {HOST} is already in use: another Milvus server (or other service) "
                    f"is running on this machine. Only one Milvus server can run per machine; stop it "
                    f"first (see `pgrep -af milvus`, `ss -ltnp 'sport = :{port}'`)."
                )
        if self.reuse_ports:
            return
        deadline = time.monotonic() + self.port_free_timeout
        for port in _REQUIRED_PORTS:
            # The stock wrapper probes ports without SO_REUSEADDR and silently moves to the next free
            # port while TIME_WAIT sockets of a previous server remain (up to 60 s): wait them out.
            while not _port_bindable(port):
                if time.monotonic() > deadline:
                    raise MilvusServerError(
                        f"Port {port} on {HOST} did not become bindable within {self.port_free_timeout} s"
                    )
                time.sleep(0.5)

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        args = ["--data", str(self.data_dir)]
        if self.session_ttl is not None:
            args += ["--extra-config", f"common.session.ttl={int(self.session_ttl)}"]
        if self.reuse_ports:
            return [str(self.python), "-c", _LAUNCHER, *args]
        return [str(self.executable), *args]

    def _acquire_lock(self) -> None:
        """Take the machine-wide server lock, or refuse if another MilvusServer holds it."""
        if self._lock is not None:
            return
        handle = open(LOCK_PATH, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while we own the ports
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    owner = handle.read().strip() or "unknown"
                    handle.close()
                    raise MilvusServerError(
                        f"Another MilvusServer owns the Milvus ports on this machine ({owner}; lock {LOCK_PATH};"
                        f" waited {self.lock_timeout:.0f} s). Only one Milvus server can run per machine."
                    ) from None
                time.sleep(1.0)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, data dir {self.data_dir}\n")
        handle.flush()
        self._lock = handle

    def _release_lock(self) -> None:
        """Release the machine-wide server lock if held."""
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def start(self) -> None:
        """Start the server and block until ``/healthz`` answers OK (or raise with the log tail)."""
        if self.running:
            raise MilvusServerError(f"Milvus server already running (pid {self.pid})")
        if self._proc is not None:  # wrapper or child died on its own: clean up first
            self.stop(keep_lock=True)
        self._acquire_lock()
        try:
            self._check_ports()
        except BaseException:
            self._release_lock()
            raise
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n===== milvus-server start at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n")
        self._log.flush()
        began = time.monotonic()
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True
        try:
            self._wait_healthy(began)
            if self.wait_settled:
                self._wait_settled()
        except BaseException as exc:
            tail = self.log_tail()
            with contextlib.suppress(Exception):
                self.stop()
            if not isinstance(exc, Exception):
                raise
            raise MilvusServerError(f"Milvus server failed to start: {exc}\nlog tail:\n{tail}") from None
        self.last_start_seconds = time.monotonic() - began

    def _wait_healthy(self, began: float) -> None:
        """Poll the health endpoint until OK, the process dies, or the start timeout passes."""
        assert self._proc is not None
        deadline = began + self.start_timeout
        seen_child = False
        while True:
            code = self._proc.poll()
            if code is not None:
                raise MilvusServerError(f"milvus-server exited with code {code} before becoming healthy")
            if self._milvus_children():
                seen_child = True
            elif seen_child:
                raise MilvusServerError("the `milvus run standalone` process died before becoming healthy")
            if self.healthy():
                if not _port_listening(GRPC_PORT):
                    raise MilvusServerError(f"healthy, but nothing listens on gRPC port {GRPC_PORT}")
                return
            if time.monotonic() > deadline:
                raise MilvusServerError(f"milvus-server not healthy after {self.start_timeout} s")
            time.sleep(0.25)

    def stop(self, *, keep_lock: bool = False) -> None:
        """Stop the server: SIGINT to the wrapper, then SIGTERM/SIGKILL the process group; verify all gone."""
        proc = self._proc
        if proc is None:
            if not keep_lock:
                self._release_lock()
            return
        began = time.monotonic()
        pgid = proc.pid  # start_new_session=True: the wrapper leads its own group
        try:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self.stop_grace)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            survivors = [p for p in family if _alive(p)] + self._group_members(pgid)
            if proc.poll() is None or survivors:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, sig)
                for p in survivors:
                    with contextlib.suppress(psutil.Error):
                        p.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
                psutil.wait_procs([p for p in family if _alive(p)], timeout=wait)
        proc.poll()
        self._proc = None
        if self._log is not None:
            self._log.write(f"===== milvus-server stopped at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n")
            self._log.close()
            self._log = None
        left = [p for p in family if _alive(p)] + self._group_members(pgid)
        self.last_stop_seconds = time.monotonic() - began
        if not keep_lock and not left:
            self._release_lock()
        if left:
            raise MilvusServerError(f"Milvus processes still alive after stop: {[p.pid for p in left]}")

    @staticmethod
    def _group_members(pgid: int) -> list[psutil.Process]:
        """Return live processes in the given process group (our server's group only)."""
        members: list[psutil.Process] = []
        for p in psutil.process_iter():
            try:
                if os.getpgid(p.pid) == pgid and _alive(p):
                    members.append(p)
            except (ProcessLookupError, psutil.Error):
                continue
        return members

    def restart(self) -> None:
        """Stop and start again on the same data dir (data and task metadata are kept)."""
        self.stop(keep_lock=True)
        self.start()

    def _atexit_stop(self) -> None:
        """Last-resort cleanup when the interpreter exits with the server still up."""
        with contextlib.suppress(Exception):
            self.stop()

    def __enter__(self) -> MilvusServer:
        """Start the server for a ``with`` block."""
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        """Stop the server at the end of a ``with`` block."""
        self.stop()
