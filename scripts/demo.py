"""The end-to-end demo: a real Milvus, real Airflow services, the example DAG, a real bulk import.

Steps: start Milvus 2.3.5 (the PyPI server wheel), create a collection and write an import file,
start Airflow (api-server, scheduler, triggerer, dag-processor on SQLite with the LocalExecutor),
add the ``milvus_default`` connection, trigger ``example_milvus_import_then_gate``, follow its tasks,
print the final BulkInsertState read from XCom and where to open the UI. Then it keeps running until
Ctrl-C (in a terminal) or stops everything (``--no-keep``, or when stdin is not a terminal).

Everything lives under ``.cache/demo/``; no configuration is needed. Run it with ``bash scripts/demo.sh``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

# pymilvus (the demo's set-up client only) warns on every ORM-style call that 3.1 removes them.
warnings.filterwarnings("ignore", message=".*ORM-style PyMilvus API")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.airflow_env.harness import AirflowEnv, AirflowEnvError, free_port  # noqa: E402
from tests.milvus_server.server import GRPC_PORT, HOST, MilvusServer, MilvusServerError  # noqa: E402

DAG_ID = "example_milvus_import_then_gate"
CONN_ID = "milvus_default"
CACHE = REPO / ".cache" / "demo"
DEFAULT_ROWS = 3_000_000  # about 8 s of import: long enough to watch the sensor defer
TASKS = ("start_import", "wait_for_import", "check_rows")


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def say(text: str = "") -> None:
    """Print at once (the output may be a pipe)."""
    print(text, flush=True)


def step(title: str) -> None:
    """Print a step heading."""
    say(f"\n==> {title}")


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    """Print how long a step took."""
    began = time.monotonic()
    yield
    say(f"    {label} in {time.monotonic() - began:.1f} s")


def _listening(port: int) -> bool:
    """True if something accepts connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def wait_for_milvus_port(wait: float) -> None:
    """Wait (never kill) while another Milvus server holds port 19530: only one can run per machine."""
    deadline = time.monotonic() + wait
    told = False
    while _listening(GRPC_PORT):
        if time.monotonic() > deadline:
            raise DemoError(
                f"port {GRPC_PORT} is still in use after {wait:.0f} s: another Milvus server runs on this "
                f"machine (see `pgrep -af milvus`). Stop it, or rerun with a longer --port-wait."
            )
        if not told:
            say(f"    port {GRPC_PORT} is in use (another Milvus server, maybe a test run): waiting up to {wait:.0f} s")
            told = True
        time.sleep(3)


def start_milvus(data_dir: Path, port_wait: float) -> MilvusServer:
    """Start the Milvus 2.3.5 standalone server on ``data_dir``."""
    wait_for_milvus_port(port_wait)
    server = MilvusServer(data_dir, lock_timeout=port_wait)
    try:
        server.start()
    except MilvusServerError as error:
        raise DemoError(f"Milvus did not start: {error}") from None
    say(f"    Milvus {server.uri} is healthy (pid {server.pid}, data in {data_dir})")
    return server


def prepare_import(server: MilvusServer, rows: int, stamp: str) -> tuple[str, list[str], str]:
    """Create a collection and write one NumPy file per field; return (collection, files, pymilvus alias)."""
    from pymilvus import connections, utility

    from tests.milvus_server.data import DIM, create_import_collection, write_numpy_files

    alias = "demo"
    connections.connect(alias=alias, host=server.host, port=str(server.port), timeout=30)
    for old in utility.list_collections(timeout=30, using=alias):  # earlier demo runs' collections and files
        if old.startswith("demo_articles_"):
            utility.drop_collection(old, timeout=30, using=alias)
    shutil.rmtree(CACHE / "data", ignore_errors=True)
    name = f"demo_articles_{stamp}"
    create_import_collection(alias, name)
    folder = CACHE / "data" / stamp
    files = write_numpy_files(folder, rows)
    size = sum(Path(f).stat().st_size for f in files) / 1e6
    say(f"    collection {name!r} (id INT64 primary key, vec FLOAT_VECTOR({DIM}))")
    say(f"    {rows:,} rows in {len(files)} NumPy files, {size:.1f} MB: {', '.join(files)}")
    return name, files, alias


def start_airflow(home: Path, port: int | None) -> AirflowEnv:
    """A fresh AIRFLOW_HOME with the repo's example DAGs; all four services started."""
    shutil.rmtree(home, ignore_errors=True)  # fresh keys and database each run
    env = AirflowEnv(
        home,
        dags_folder=REPO / "example_dags",
        api_port=port,
    )
    with timed("database migrated"):
        env.migrate()
    with timed("api-server, scheduler, triggerer and dag-processor up"):
        env.start()
    return env


class Progress:
    """Prints the run's task states (and the Milvus job's own state) whenever they change."""

    def __init__(self, env: AirflowEnv, run_id: str, alias: str) -> None:
        self.env = env
        self.run_id = run_id
        self.alias = alias
        self.began = time.monotonic()
        self.job_id: str | None = None
        self.last = ""

    def _job(self) -> str:
        """The import job's state as Milvus reports it, once start_import pushed the job id."""
        if self.job_id is None:
            with contextlib.suppress(AirflowEnvError):
                self.job_id = str(self.env.xcom(DAG_ID, self.run_id, "start_import", "job_id"))
        if self.job_id is None:
            return ""
        try:
            from pymilvus import utility

            state = utility.get_bulk_insert_state(int(self.job_id), using=self.alias, timeout=5)
        except Exception:  # the display only; the DAG decides
            return f" | Milvus job {self.job_id}"
        percent = state.infos.get("progress_percent")
        progress = f" {percent}%" if percent else ""
        return f" | Milvus job {self.job_id}: {state.state_name}{progress}, {state.row_count:,} rows"

    def __call__(self, run_state: str, tasks: dict[str, str | None]) -> None:
        """Print one line if anything changed."""
        shown = "  ".join(f"{t}={tasks.get(t) or '-'}" for t in TASKS)
        line = f"run={run_state}  {shown}{self._job() if tasks.get('start_import') == 'success' else ''}"
        if line != self.last:
            note = "  (the sensor waits in the triggerer: no worker slot held)" if "import=deferred" in line else ""
            say(f"    [{time.monotonic() - self.began:5.1f} s] {line}{note}")
            self.last = line


def run_dag(env: AirflowEnv, collection: str, files: list[str], alias: str, timeout: float) -> tuple[str, Any]:
    """Trigger the example DAG, follow it, return (run id, final BulkInsertState dict)."""
    conf = {"collection_name": collection, "files": files}
    run_id = env.trigger_dag(DAG_ID, conf, timeout=120)
    say(f"    run {run_id} with conf {json.dumps(conf)}")
    progress = Progress(env, run_id, alias)
    state = env.wait_for_run(DAG_ID, run_id, timeout=timeout, interval=0.5, on_poll=progress)
    say(f"    run {state} in {time.monotonic() - progress.began:.1f} s")
    trigger_logs = env.trigger_log_files(DAG_ID, run_id, "wait_for_import")
    if trigger_logs:
        say(f"    the triggerer's log of the wait: {trigger_logs[-1]}")
    if state != "success":
        tasks = env.task_states(DAG_ID, run_id)
        failed = [t for t, s in tasks.items() if s not in ("success", None)]
        logs = "\n".join(f"--- {t} ---\n{env.task_log(DAG_ID, run_id, t)[-3000:]}" for t in failed)
        raise DemoError(f"the run ended {state}: {tasks}\n{logs}")
    return run_id, env.xcom(DAG_ID, run_id, "wait_for_import")


def keep_running(env: AirflowEnv, server: MilvusServer) -> None:
    """Block until Ctrl-C, watching that the services stay up."""
    say("\nAirflow and Milvus keep running. Press Ctrl-C to stop everything.")
    while True:
        time.sleep(2)
        dead = [name for name in env.pids if not env.running(name)]
        if dead or not server.running:
            raise DemoError(f"a service stopped on its own: {dead or ['milvus']}; see {env.home}/*.log")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the demo like Ctrl-C does: through the clean-up."""
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; every one has a default."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep", dest="keep", action="store_true", default=None, help="keep running until Ctrl-C")
    keep.add_argument("--no-keep", dest="keep", action="store_false", help="stop everything once the run is done")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows to import (default {DEFAULT_ROWS:,})")
    parser.add_argument("--port", type=int, default=None, help="api-server port (default 8080, else a free one)")
    parser.add_argument("--port-wait", type=float, default=600, help="seconds to wait for another Milvus to leave")
    parser.add_argument("--run-timeout", type=float, default=300, help="seconds the DAG run may take")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 on success, 1 with a message on failure, 130 on Ctrl-C."""
    args = parse_args(argv)
    keep = sys.stdin.isatty() if args.keep is None else args.keep
    port = args.port or (8080 if not _listening(8080) else free_port())
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    began = time.monotonic()
    server: MilvusServer | None = None
    env: AirflowEnv | None = None
    code = 0
    try:
        step("Starting Milvus 2.3.5 (standalone server from the PyPI `milvus` wheel)")
        with timed("Milvus started"):
            server = start_milvus(CACHE / "milvus", args.port_wait)
        step("Creating a collection and writing the import files")
        collection, files, alias = prepare_import(server, args.rows, stamp)
        step("Starting Airflow (SQLite, LocalExecutor) with the example DAGs")
        env = start_airflow(CACHE / "airflow", port)
        say(f"    AIRFLOW_HOME={env.home}  api-server {env.base_url}  service logs {env.home}/<service>.log")
        step(f"Adding the `{CONN_ID}` connection (type milvus) with `airflow connections add`")
        env.add_connection(CONN_ID, "milvus", host=server.uri, extra={"protocol": "auto"})
        say(f"    {CONN_ID}: host {server.uri}, protocol auto")
        step(f"Triggering {DAG_ID}")
        run_id, final = run_dag(env, collection, files, alias, args.run_timeout)
        step("Final BulkInsertState (XCom `return_value` of wait_for_import, read through the REST API)")
        say(json.dumps(final, indent=2, sort_keys=True))
        if not (isinstance(final, dict) and final.get("state_name") == "Completed"):
            raise DemoError(f"the final state is not Completed: {final}")
        step("Open the Airflow UI")
        say(f"    {env.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")
        say("    No login needed: the simple auth manager runs with SIMPLE_AUTH_MANAGER_ALL_ADMINS=True,")
        say(f"    every visitor is admin. REST API token: curl {env.base_url}/auth/token")
        say(
            f"\nDemo succeeded in {time.monotonic() - began:.0f} s: {final['row_count']:,} rows imported into "
            f"{final['collection_name']!r} by job {final['task_id']}."
        )
        if keep:
            keep_running(env, server)
    except KeyboardInterrupt:
        say("\nInterrupted.")
        code = 130
    except (DemoError, AirflowEnvError, MilvusServerError) as error:
        say(f"\nDEMO FAILED: {error}")
        code = 1
    except Exception as error:
        say(f"\nDEMO FAILED (unexpected {type(error).__name__}): {error}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        say("\n==> Stopping Airflow and Milvus")
        for name, stop in (("Airflow", env.stop if env else None), ("Milvus", server.stop if server else None)):
            if stop is None:
                continue
            try:
                stop()
            except Exception as error:
                say(f"    could not stop {name} cleanly: {error}")
                code = code or 1
        say("    stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
