"""Run real Airflow services (2.11 or 3.x, whichever this venv holds) on SQLite in a throw-away AIRFLOW_HOME.

``AirflowEnv`` starts the release's services as separate processes (each in its own process group,
logging to ``<home>/<service>.log``), talks to its public REST API, and stops everything it started,
verifying that no process is left. What differs between releases is one table, ``RELEASES``:

- Airflow 3: ``api-server``, ``scheduler``, ``triggerer``, ``dag-processor``; LocalExecutor;
  REST ``/api/v2`` with a JWT from the simple auth manager; health at ``/api/v2/monitor/health``.
- Airflow 2.11: ``webserver``, ``scheduler`` (it parses the DAGs itself), ``triggerer``; the
  SequentialExecutor (Airflow 2 refuses any other on SQLite); REST ``/api/v1`` with basic auth as a
  FAB user created after ``db migrate``; health at ``/health``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import psutil
import requests


@dataclass(frozen=True)
class AirflowRelease:
    """What the harness does differently for one Airflow generation (the only place that knows)."""

    generation: int
    #: The service that serves the UI and the REST API.
    web: str
    #: Every service, in start order.
    services: tuple[str, ...]
    #: Prefix of the public REST API.
    api_root: str
    #: Path of the health report (metadatabase, scheduler, triggerer, dag_processor).
    health_path: str
    #: True: basic auth as a FAB user made by ``airflow users create``; False: a JWT from ``/auth/token``.
    basic_auth: bool
    #: Query parameters that make the XCom entry endpoint return the value as JSON, not as its str().
    xcom_params: Mapping[str, str] = field(default_factory=dict)
    #: Fields every ``POST .../dagRuns`` body carries besides ``conf``.
    run_body: Mapping[str, Any] = field(default_factory=dict)
    #: Settings of this generation; ``{host}``, ``{port}``, ``{base_url}``, ``{secret}``, ``{jwt_secret}`` filled in.
    env: Mapping[str, str] = field(default_factory=dict)


RELEASES: dict[int, AirflowRelease] = {
    2: AirflowRelease(
        generation=2,
        web="webserver",
        services=("webserver", "scheduler", "triggerer"),
        api_root="/api/v1",
        health_path="/health",
        basic_auth=True,
        xcom_params={"deserialize": "true", "stringify": "false"},
        env={
            "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",  # "cannot use SQLite with the LocalExecutor"
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "{host}",
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": "{port}",
            "AIRFLOW__WEBSERVER__BASE_URL": "{base_url}",
            "AIRFLOW__WEBSERVER__WORKERS": "1",
            # Threads: a browser's idle preconnected socket would hold a lone sync worker and stall every request.
            "AIRFLOW__WEBSERVER__WORKER_CLASS": "gthread",
            "GUNICORN_CMD_ARGS": "--threads 4",
            "AIRFLOW__WEBSERVER__SECRET_KEY": "{secret}",
            "AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE": "False",
            # basic_auth for the harness; session for the UI's own calls (the form's Test button).
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
            "AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT": "True",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
        },
    ),
    3: AirflowRelease(
        generation=3,
        web="api-server",
        services=("api-server", "scheduler", "triggerer", "dag-processor"),
        api_root="/api/v2",
        health_path="/api/v2/monitor/health",
        basic_auth=False,
        run_body={"logical_date": None},  # required (null: a run without a logical date)
        env={
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "{base_url}/execution/",
            "AIRFLOW__API__HOST": "{host}",
            "AIRFLOW__API__PORT": "{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": "{secret}",
            "AIRFLOW__API_AUTH__JWT_SECRET": "{jwt_secret}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
        },
    ),
}

#: The installed Airflow's version (the venv of ``sys.executable``, whose ``airflow`` the harness runs).
AIRFLOW_VERSION = installed_version("apache-airflow")
#: The running Airflow's entry of ``RELEASES``.
RELEASE = RELEASES[int(AIRFLOW_VERSION.split(".")[0])]

SERVICES: tuple[str, ...] = RELEASE.services
"""The services ``AirflowEnv.start`` knows, in start order."""
WEB_SERVICE: str = RELEASE.web
"""The service of the UI and the REST API: ``webserver`` (Airflow 2) or ``api-server`` (Airflow 3)."""
#: The FAB user the harness creates on Airflow 2 (basic auth for the REST API, the UI's login page).
ADMIN_USER = ("admin", "admin")

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
TERMINAL_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})

# Each process we start (and every descendant, which inherits the environment) carries this
# variable, so stop() can find and verify them by PID even if one left its process group.
_MARKER = "AIRFLOW_ENV_HARNESS_ID"
# Health report keys of the services that heartbeat (the release's health_path).
_HEALTH_KEYS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}


class AirflowEnvError(RuntimeError):
    """An Airflow service or command failed; the message carries the relevant output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def _alive(proc: psutil.Process) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _fernet_key() -> str:
    """A fresh Fernet key (cryptography is an Airflow dependency)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class AirflowEnv:
    """Real Airflow services on SQLite + LocalExecutor in ``home``; usable as a context manager.

    :param home: the AIRFLOW_HOME (created); the database, logs and service logs live there.
    :param dags_folder: the DAGs folder (default ``<home>/dags``, created).
    :param extra_env: more environment variables (``AIRFLOW__SECTION__KEY``, ``AIRFLOW_CONN_*``), applied last.
    :param api_port: the port of the api-server (Airflow 3) or webserver (Airflow 2); a free one when None.
    :param database_url: the metadata database's SQLAlchemy URL (default: SQLite in ``home``), e.g. a
        ``tests.airflow_env.postgres.PostgresServer`` database.
    :param triggerers: how many ``airflow triggerer`` processes this environment knows: ``triggerer``,
        then ``triggerer-2``, ``triggerer-3``... (each started like any service; they share the trigger table).

    Attributes: ``release`` (the running Airflow's ``RELEASES`` entry), ``env`` (the full environment of
    every Airflow process), ``base_url`` (``http://127.0.0.1:<port>``), ``home``, ``dags_folder``,
    ``log_dir`` (task and trigger logs), ``startup_seconds`` (per service) and ``last_stop_seconds``.
    """

    def __init__(
        self,
        home: Path,
        *,
        dags_folder: Path | None = None,
        extra_env: dict[str, str] | None = None,
        api_port: int | None = None,
        database_url: str | None = None,
        triggerers: int = 1,
    ) -> None:
        if triggerers < 1:
            raise ValueError(f"triggerers must be at least 1, got {triggerers}")
        # Extra triggerers are services of their own, started (and killed) by name like the others.
        self.services: tuple[str, ...] = SERVICES + tuple(f"triggerer-{i}" for i in range(2, triggerers + 1))
        self.triggerer_job_ids: dict[str, int] = {}  # extra triggerer -> its TriggererJob id
        if database_url:
            extra_env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url, **(extra_env or {})}
        self.home = Path(home).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder = Path(dags_folder).resolve() if dags_folder else self.home / "dags"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.home / "logs"
        self.api_host = "127.0.0.1"
        self.api_port = api_port or free_port(self.api_host)
        self.base_url = f"http://{self.api_host}:{self.api_port}"
        self.bin_dir = Path(sys.executable).parent
        self.airflow_bin = self.bin_dir / "airflow"
        if not self.airflow_bin.exists():
            raise AirflowEnvError(f"{self.airflow_bin} not found: run with the venv's python (scripts/setup.sh)")
        self.harness_id = uuid.uuid4().hex
        self.release = RELEASE
        self.env = self._make_env(extra_env or {})
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy for 127.0.0.1
        self._token: str | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: dict[str, IO[bytes]] = {}
        self.startup_seconds: dict[str, float] = {}
        self.last_stop_seconds: float | None = None
        atexit.register(self._atexit_stop)

    # ------------------------------------------------------------------ environment
    def _make_env(self, extra_env: Mapping[str, str]) -> dict[str, str]:
        """The full environment of every Airflow process: inherited, minus outside Airflow settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
        env.update(
            {
                _MARKER: self.harness_id,
                "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "NO_PROXY": no_proxy,
                "no_proxy": no_proxy,
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_dir),
                # Fast loops: a manual run is picked up in about a second, a deferral in about a second.
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            }
        )
        values = {
            "host": self.api_host,
            "port": str(self.api_port),
            "base_url": self.base_url,
            "secret": secrets.token_hex(16),
            "jwt_secret": secrets.token_hex(32),
        }
        env.update({key: value.format(**values) for key, value in self.release.env.items()})
        env.update(extra_env)
        return env

    # ------------------------------------------------------------------ CLI
    def airflow(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``<venv>/bin/airflow ARGS`` with this environment; raise with the output's tail on failure."""
        cmd = [str(self.airflow_bin), *args]
        proc = subprocess.Popen(
            cmd,
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AirflowEnvError(
                f"`airflow {' '.join(args)}` timed out after {timeout} s\n"
                f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
            ) from None
        result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise AirflowEnvError(
                f"`airflow {' '.join(args)}` exited with {result.returncode}\n"
                f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
            )
        return result

    def migrate(self) -> None:
        """Create or upgrade the SQLite metadata database (``airflow db migrate``); on Airflow 2 add the admin user."""
        self.airflow("db", "migrate", timeout=300)
        if self.release.basic_auth:
            username, password = ADMIN_USER
            self.airflow(
                *("users", "create", "--username", username, "--password", password, "--role", "Admin"),
                *("--email", f"{username}@example.com", "--firstname", "Airflow", "--lastname", "Admin"),
                timeout=180,
            )

    def reserialize(self) -> None:
        """Parse the DAGs folder now and register its DAGs (no wait for the dag-processor's rescan)."""
        self.airflow("dags", "reserialize", timeout=300)

    def add_connection(self, conn_id: str, conn_type: str = "milvus", *, replace: bool = True, **fields: Any) -> None:
        """``airflow connections add`` with ``host``, ``port``, ``login``, ``password``, ``schema``,
        ``description`` or ``extra`` (a dict or a JSON string); ``replace`` overwrites an existing one.
        """
        known = {"host", "port", "login", "password", "schema", "description", "extra"}
        unknown = set(fields) - known
        if unknown:
            raise TypeError(f"unknown connection fields {sorted(unknown)}; use {sorted(known)}")
        args = ["connections", "add", conn_id, "--conn-type", conn_type]
        for name, value in fields.items():
            if value is None:
                continue
            if name == "extra" and not isinstance(value, str):
                value = json.dumps(value)
            args += [f"--conn-{name}", str(value)]
        result = self.airflow(*args, check=False)
        output = result.stdout + result.stderr
        if replace and "already exists" in output:
            self.airflow("connections", "delete", conn_id)
            result = self.airflow(*args, check=False)
            output = result.stdout + result.stderr
        if result.returncode != 0 or "Successfully added" not in output:
            raise AirflowEnvError(f"`airflow connections add {conn_id}` failed ({result.returncode}):\n{_tail(output)}")

    # ------------------------------------------------------------------ services
    def service_log(self, service: str) -> Path:
        """The file a service's stdout and stderr go to."""
        return self.home / f"{service}.log"

    def task_starts(self, offset: int = 0) -> tuple[int, int]:
        """Worker task runs begun since byte ``offset`` of the api-server's log, and the new offset (Airflow 3).

        Every task process a worker starts (a first run or a resume after a deferral) opens with the
        execution API's ``PATCH .../task-instances/<id>/run``; the api-server logs each answered one.
        """
        with self.service_log("api-server").open("rb") as log:
            log.seek(offset)
            text = log.read()
        count = sum(
            1
            for line in text.splitlines()
            if b"method=PATCH" in line and b"/run query=" in line and b"status_code=200" in line
        )
        return count, offset + len(text)

    def service_log_tail(self, service: str, lines: int = 40) -> str:
        """The last lines of a service's log."""
        try:
            return _tail(self.service_log(service).read_text(encoding="utf-8", errors="replace"), lines)
        except OSError as error:
            return f"<cannot read {self.service_log(service)}: {error}>"

    def until(self, ready: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
        """Poll ``ready()`` every ``interval`` s until truthy, return it; after ``timeout`` fail with the logs."""
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{self.logs_tail()}")
            time.sleep(interval)

    def logs_tail(self, lines: int = 25) -> str:
        """The tails of all started services' logs, for failure messages."""
        return "\n".join(
            f"--- {self.service_log(name)} ---\n{self.service_log_tail(name, lines)}" for name in self._procs
        )

    @property
    def pids(self) -> dict[str, int]:
        """PID (and process group id) of each started service."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def running(self, service: str) -> bool:
        """True while the service's main process is alive."""
        proc = self._procs.get(service)
        return proc is not None and proc.poll() is None

    def start(self, *services: str, timeout: float = 120) -> None:
        """Start the services (all of ``SERVICES`` when none given) and wait until they are up.

        The web service (api-server or webserver) is up when its health report answers; the others when
        that report calls them healthy (without the web service: ``airflow jobs check``).
        """
        wanted = list(services or SERVICES)
        for name in wanted:
            if name not in self.services:
                raise ValueError(f"unknown service {name!r}; known: {', '.join(self.services)}")
            if self.running(name):
                raise AirflowEnvError(f"{name} is already running (pid {self._procs[name].pid})")
        began = time.monotonic()
        known_triggerers = self.alive_triggerer_jobs() if any(n.startswith("triggerer-") for n in wanted) else set()
        for name in sorted(wanted, key=self.services.index):
            log = self.service_log(name).open("ab")
            log.write(f"===== airflow {name} start at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
            log.flush()
            self._log_files[name] = log
            self._procs[name] = subprocess.Popen(
                [str(self.airflow_bin), name.split("-")[0] if name.startswith("triggerer-") else name],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = began + timeout
        web = self.release.web
        try:
            if web in wanted:
                self._wait(lambda: self._api_health() is not None, deadline, f"the {web} to answer", wanted)
                self.startup_seconds[web] = time.monotonic() - began
            for name in wanted:
                if name == web:
                    continue
                if name.startswith("triggerer-"):  # ready once a new TriggererJob heartbeats: that one is its
                    self._wait(
                        functools.partial(self._new_triggerer_job, name, known_triggerers),
                        deadline,
                        f"{name} to heartbeat",
                        wanted,
                    )
                    self.startup_seconds[name] = time.monotonic() - began
                    continue
                # Healthy in the web service's report, else (none running) an alive job for `airflow jobs check`.
                ready = self._healthy if self.running(web) else self._job_alive
                self._wait(functools.partial(ready, name), deadline, f"{name} to report healthy", wanted)
                self.startup_seconds[name] = time.monotonic() - began
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str, services: Iterable[str]) -> None:
        """Poll ``ready`` until true; raise with log tails if a service died or the deadline passed."""
        while True:
            for name in services:
                proc = self._procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise AirflowEnvError(
                        f"airflow {name} exited with {proc.returncode} while waiting for {what}\n"
                        f"--- {self.service_log(name)} ---\n{self.service_log_tail(name, 60)}"
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                raise AirflowEnvError(f"timed out waiting for {what}\n{self.logs_tail()}")
            time.sleep(0.25)

    def _api_health(self) -> dict[str, Any] | None:
        """The web service's health report, or None while it does not answer."""
        try:
            response = self.session.get(f"{self.base_url}{self.release.health_path}", timeout=5)
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        result: dict[str, Any] = response.json()
        return result

    def _healthy(self, service: str) -> bool:
        """True if the health report calls the service healthy."""
        report = self._api_health() or {}
        part = report.get(_HEALTH_KEYS[service]) or {}
        return bool(part.get("status") == "healthy")

    def alive_triggerer_jobs(self) -> set[int]:
        """Ids of the TriggererJobs that heartbeat now (``GET /api/v2/jobs``), empty without an api-server."""
        if not self.running("api-server"):
            return set()
        jobs = self.api_json("GET", "jobs", params={"job_type": "TriggererJob", "is_alive": "true", "limit": 100})
        return {int(job["id"]) for job in jobs.get("jobs", []) if job.get("state") == "running"}

    def _new_triggerer_job(self, service: str, known: set[int]) -> bool:
        """True once a TriggererJob not in ``known`` (nor another extra triggerer's) heartbeats; records it."""
        taken = set(self.triggerer_job_ids.values()) | known
        new = sorted(self.alive_triggerer_jobs() - taken)
        if new:
            self.triggerer_job_ids[service] = new[0]
        return bool(new)

    def _job_alive(self, service: str) -> bool:
        """True if ``airflow jobs check`` finds an alive job of the service (no api-server needed)."""
        job_type = {"scheduler": "SchedulerJob", "triggerer": "TriggererJob", "dag-processor": "DagProcessorJob"}
        args = ("jobs", "check", "--job-type", job_type[service], "--allow-multiple", "--limit", "100")
        return self.airflow(*args, timeout=60, check=False).returncode == 0

    def health(self) -> dict[str, Any]:
        """The health report (metadatabase, scheduler, triggerer, dag_processor) of the release's health path."""
        report = self._api_health()
        if report is None:
            raise AirflowEnvError(f"the {self.release.web} at {self.base_url} does not answer")
        return report

    def processes(self) -> list[psutil.Process]:
        """Every live process of this environment: those carrying its marker, and all their descendants.

        Workers and task processes rename themselves (setproctitle), which wipes the marker from
        their environment: they are found as descendants of the marked services instead.
        """
        found: dict[int, psutil.Process] = {}
        me = os.getpid()
        for proc in psutil.process_iter():
            try:
                if proc.pid == me or not _alive(proc):
                    continue
                if proc.environ().get(_MARKER) == self.harness_id:
                    found[proc.pid] = proc
                    for child in proc.children(recursive=True):
                        if _alive(child):
                            found[child.pid] = child
            except psutil.Error:
                continue
        return list(found.values())

    def stop(self, grace: float = 20.0) -> None:
        """Stop every started service: SIGTERM to each process group, SIGKILL after ``grace``; verify none left."""
        began = time.monotonic()
        family: dict[int, psutil.Process] = {p.pid: p for p in self.processes()}
        for proc in self._procs.values():
            with contextlib.suppress(psutil.Error):
                main = psutil.Process(proc.pid)
                family.setdefault(main.pid, main)
                for child in main.children(recursive=True):
                    family.setdefault(child.pid, child)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            alive = [p for p in family.values() if _alive(p)]
            if not alive:
                break
            for proc in self._procs.values():
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, sig)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.send_signal(sig)
            psutil.wait_procs(alive, timeout=wait)
            for proc in self._procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
        for log in self._log_files.values():
            with contextlib.suppress(OSError):
                log.write(f"===== stopped at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
                log.close()
        self._procs.clear()
        self._log_files.clear()
        self._token = None
        left = [p for p in family.values() if _alive(p)] + self.processes()
        self.last_stop_seconds = time.monotonic() - began
        if left:
            pids = sorted({p.pid for p in left})
            raise AirflowEnvError(f"Airflow processes still alive after stop: {pids}")

    def kill(self, service: str, sig: int = signal.SIGKILL, timeout: float = 15.0) -> list[int]:
        """Send ``sig`` (default SIGKILL) to a service's process group and every descendant; wait until all
        are gone; return their PIDs. The service can be started again with ``start(service)``.
        """
        proc = self._procs.get(service)
        if proc is None or proc.poll() is not None:
            raise AirflowEnvError(f"{service} is not running")
        family: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(proc.pid)
            family = [main, *main.children(recursive=True)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        for member in family:  # a descendant that left the group
            with contextlib.suppress(psutil.Error):
                member.send_signal(sig)
        proc.wait(timeout=timeout)
        _, alive = psutil.wait_procs(family, timeout=timeout)
        if alive:
            raise AirflowEnvError(f"{service} processes survived signal {sig}: {[p.pid for p in alive]}")
        log = self._log_files.pop(service, None)
        if log is not None:
            with contextlib.suppress(OSError):
                log.write(f"===== signal {sig} at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
                log.close()
        return sorted(p.pid for p in family)

    def _atexit_stop(self) -> None:
        """Last-resort cleanup when the interpreter exits with services still up."""
        if self._procs:
            with contextlib.suppress(Exception):
                self.stop(grace=5.0)

    def __enter__(self) -> AirflowEnv:
        """Use ``with AirflowEnv(...) as env:``; services are stopped on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop every service this environment started."""
        self.stop()

    # ------------------------------------------------------------------ REST API
    def token(self, refresh: bool = False) -> str:
        """A JWT for the public API of Airflow 3: ``GET /auth/token`` (all-admins mode), else the admin's password."""
        if self.release.basic_auth:
            raise AirflowEnvError(f"Airflow {AIRFLOW_VERSION} has no API tokens: the harness uses basic auth")
        if self._token and not refresh:
            return self._token
        response = self.session.get(f"{self.base_url}/auth/token", timeout=30)
        if response.status_code == 403:  # all-admins mode off: log in as the simple auth manager's admin
            passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
            username, password = next(iter(passwords.items()))
            response = self.session.post(
                f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
            )
        if response.status_code not in (200, 201):
            raise AirflowEnvError(f"no API token: {response.status_code} {response.text[:500]}")
        self._token = str(response.json()["access_token"])
        return self._token

    def url(self, path: str) -> str:
        """Absolute URL of a path: ``/api/v2/dags``, ``/auth/token``, or ``dags`` (under the release's API root)."""
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = f"{self.release.api_root}/{path}"
        return self.base_url + path

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the REST API (3: a bearer token, renewed once on 401; 2: basic auth); never raises on a status."""
        kwargs.setdefault("timeout", 30)
        if self.release.basic_auth:
            return self.session.request(method, self.url(path), auth=ADMIN_USER, **kwargs)
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self.token(refresh=attempt > 0)}"
            response = self.session.request(method, self.url(path), headers=headers, **kwargs)
            if response.status_code != 401:
                break
        return response

    def api_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API and return its JSON; raise ``AirflowEnvError`` on a status of 400 or more."""
        response = self.api(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowEnvError(f"{method} {path}: {response.status_code} {response.text[:1000]}")
        return response.json() if response.content else None

    @staticmethod
    def _run_path(dag_id: str, run_id: str) -> str:
        """``dags/<dag_id>/dagRuns/<run_id>`` with the run id escaped (it holds ``:`` and ``+``)."""
        return f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"

    def import_errors(self) -> list[dict[str, Any]]:
        """The DAG import errors the dag-processor recorded."""
        errors: list[dict[str, Any]] = self.api_json("GET", "importErrors").get("import_errors", [])
        return errors

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until the DAG is registered; return its ``GET /dags/<id>`` record."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.api("GET", f"dags/{quote(dag_id, safe='')}")
            if response.status_code == 200:
                result: dict[str, Any] = response.json()
                return result
            if time.monotonic() > deadline:
                raise AirflowEnvError(
                    f"DAG {dag_id!r} not registered within {timeout} s "
                    f"(last answer {response.status_code}); import errors: {self.import_errors()}"
                )
            time.sleep(0.5)

    def unpause(self, dag_id: str) -> None:
        """Unpause the DAG (DAGs are paused at creation)."""
        self.api_json("PATCH", f"dags/{quote(dag_id, safe='')}", json={"is_paused": False})

    def trigger_dag(self, dag_id: str, conf: dict[str, Any] | None = None, *, timeout: float = 60) -> str:
        """Wait for the DAG to be registered, unpause it, start a manual run with ``conf``; return the run id."""
        self.wait_for_dag(dag_id, timeout)
        self.unpause(dag_id)
        body = {**self.release.run_body, "conf": conf or {}}
        run = self.api_json("POST", f"dags/{quote(dag_id, safe='')}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def wait_for_first_run(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """The DAG's first run once it ended: for a run nobody triggered by hand (asset or dataset triggered)."""

        def ended() -> dict[str, Any] | None:
            runs = self.api_json("GET", f"dags/{quote(dag_id, safe='')}/dagRuns")["dag_runs"]
            return dict(runs[0]) if runs and runs[0]["state"] in TERMINAL_RUN_STATES else None

        result: dict[str, Any] = self.until(ended, timeout, f"a finished run of {dag_id}")
        return result

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run's record (``state``, ``start_date``, ``end_date``, ``conf``...)."""
        result: dict[str, Any] = self.api_json("GET", self._run_path(dag_id, run_id))
        return result

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances."""
        result: list[dict[str, Any]] = self.api_json("GET", self._run_path(dag_id, run_id) + "/taskInstances")[
            "task_instances"
        ]
        return result

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id: state}`` of the run (None: not scheduled yet)."""
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance's record (with ``trigger`` and ``triggerer_job`` while deferred)."""
        path = f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}"
        result: dict[str, Any] = self.api_json("GET", path)
        return result

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 180,
        *,
        interval: float = 0.5,
        on_poll: Callable[[str, dict[str, str | None]], None] | None = None,
    ) -> str:
        """Wait until the run is ``success`` or ``failed`` and return that state.

        ``on_poll(run_state, task_states)`` is called on every poll (progress display).
        """
        deadline = time.monotonic() + timeout
        while True:
            state = str(self.dag_run(dag_id, run_id)["state"])
            if on_poll is not None:
                on_poll(state, self.task_states(dag_id, run_id))
            if state in TERMINAL_RUN_STATES:
                return state
            if time.monotonic() > deadline:
                states = self.task_states(dag_id, run_id)
                raise AirflowEnvError(
                    f"run {run_id} of {dag_id} still {state} after {timeout} s; tasks {states}\n"
                    f"{self.unfinished_task_logs(dag_id, run_id, states)}{self.logs_tail()}"
                )
            time.sleep(interval)

    def state_mismatches(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        """The scheduler's "state mismatch" audit entries of a task: tries it failed because its executor reported
        the try finished while the database said queued or running (the task process never said why)."""
        params = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "event": "state mismatch", "limit": 100}
        logs = self.api_json("GET", "eventLogs", params=params)["event_logs"]
        return [str(entry.get("extra") or "") for entry in logs]

    def unfinished_task_logs(self, dag_id: str, run_id: str, states: Mapping[str, str | None], lines: int = 30) -> str:
        """The log tails of a run's tasks that did not succeed, read from disk: why a try failed comes first."""
        parts = []
        keys = ("timestamp", "level", "event", "error_detail")
        for task_id, task_state in states.items():
            if task_state in {"success", "skipped", None}:
                continue
            for path in self.task_log_files(dag_id, run_id, task_id):
                text = "\n".join(
                    " ".join(str(event.get(k, "")) for k in keys).strip()[:800] for event in self.read_log_events(path)
                )
                parts.append(f"--- {task_id} ({task_state}): {path.name} ---\n{_tail(text, lines)}\n")
        if parts and "scheduler" in self._procs:  # what the scheduler said of the run (a try it failed itself)
            text = self.service_log("scheduler").read_text(encoding="utf-8", errors="replace")
            said = [line[:600] for line in text.splitlines() if run_id in line]
            parts.append(f"--- scheduler, lines of this run ---\n{_tail(chr(10).join(said), lines)}\n")
        return "".join(parts)

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: str | Iterable[str],
        timeout: float = 60,
        *,
        interval: float = 0.2,
    ) -> dict[str, Any]:
        """Poll a task instance until it is in one of ``states``; return its record at that moment.

        Raises at once if it reaches another final state (so a missed state fails fast, with what was seen).
        """
        wanted = {states} if isinstance(states, str) else set(states)
        seen: list[str | None] = []
        deadline = time.monotonic() + timeout
        while True:
            response = self.api("GET", f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}")
            ti: dict[str, Any] = response.json() if response.status_code == 200 else {"state": None}
            state = ti.get("state")
            if not seen or seen[-1] != state:
                seen.append(state)
            if state in wanted:
                return ti
            if state in TERMINAL_TI_STATES:
                raise AirflowEnvError(
                    f"{dag_id}.{task_id} reached {state} without passing through {sorted(wanted)}; seen {seen}"
                )
            if time.monotonic() > deadline:
                raise AirflowEnvError(f"{dag_id}.{task_id} not in {sorted(wanted)} after {timeout} s; seen {seen}")
            time.sleep(interval)

    def wait_for_deferred(
        self, dag_id: str, run_id: str, task_id: str, timeout: float = 60, *, interval: float = 0.2
    ) -> dict[str, Any]:
        """Wait until the task instance is ``deferred``; return its record (``trigger`` holds the trigger)."""
        return self.wait_for_task_state(dag_id, run_id, task_id, "deferred", timeout, interval=interval)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", *, map_index: int = -1) -> Any:
        """An XCom value read back through ``GET .../taskInstances/<task>/xcomEntries/<key>``."""
        path = f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}/xcomEntries/{quote(key)}"
        value = self.api_json("GET", path, params={"map_index": map_index, **self.release.xcom_params})["value"]
        if isinstance(value, str):  # stored serialised: JSON text
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task attempt's log as ``time level event`` lines, through the REST API (the trigger's part included)."""
        path = f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}/logs/{try_number}"
        body = self.api_json("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        if isinstance(body.get("content"), str):  # Airflow 2: one text
            return str(body["content"])
        lines = []
        for item in body.get("content", []):
            if isinstance(item, dict):
                lines.append(" ".join(str(item.get(k, "")) for k in ("timestamp", "level", "event")).strip())
            else:
                lines.append(str(item))
        return "\n".join(lines)

    # ------------------------------------------------------------------ log files
    def task_log_dir(self, dag_id: str, run_id: str, task_id: str) -> Path:
        """The folder of a task's log files (``dag_id=../run_id=../task_id=..``)."""
        return self.log_dir / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The task's log files: ``attempt=N.log`` and, for deferred attempts, ``attempt=N.log.trigger.<id>.log``."""
        folder = self.task_log_dir(dag_id, run_id, task_id)
        return sorted(p for p in folder.rglob("attempt=*") if p.is_file()) if folder.is_dir() else []

    def trigger_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The log files the triggerer wrote for the task's deferrals."""
        return [p for p in self.task_log_files(dag_id, run_id, task_id) if ".log.trigger." in p.name]

    @staticmethod
    def read_log_events(path: Path) -> list[dict[str, Any]]:
        """The structured events of a task or trigger log file (JSON lines; other lines as ``{"event": line}``)."""
        events: list[dict[str, Any]] = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                item = {"event": line}
            events.append(item if isinstance(item, dict) else {"event": str(item)})
        return events
