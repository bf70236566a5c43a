"""End to end: the triggerer is SIGKILLed and restarted while a MilvusImportSensor is deferred on a real import.

Real Milvus 2.3.5, real Airflow 3 services, the repo's ``example_milvus_import_then_gate`` DAG. Milvus 2.3
runs imports one at a time, so the DAG's import is queued behind a few blocker imports (same files, another
collection): it stays in flight (Pending, then Started) long enough for the kill, the restart and the
reassignment. The test checks that the task instance stays ``deferred`` throughout, that a new triggerer
(another job id, its own ``attempt=1.log.trigger.<id>.log``) takes the same trigger over while the job is
still running, and that the run succeeds with the final BulkInsertState (Completed, every row) in XCom.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import psutil
import pytest
from pymilvus import connections, utility

from tests.airflow_env.fixtures import AirflowEnvFactory
from tests.airflow_env.harness import AirflowEnv
from tests.milvus_server.data import create_import_collection, drop_collection, write_numpy_files
from tests.milvus_server.server import MilvusServer

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "example_milvus_import_then_gate"
SENSOR = "wait_for_import"
TRIGGER_CLASSPATH = "airflow_provider_milvus.triggers.milvus_import.MilvusImportTrigger"
# 3M rows of dim 8 as NumPy import in about 7 s on 2 cores; imports run one at a time on Milvus 2.3.
ROWS = int(os.environ.get("E2E_IMPORT_ROWS", "3000000"))
# Imports queued ahead of the DAG's: about 7 s each, so the DAG's job ends about 45 s after the trigger
# (a fresh triggerer's first connection lookup alone can take 5 to 10 s on 2 busy cores).
BLOCKERS = int(os.environ.get("E2E_RESTART_BLOCKERS", "5"))
# A killed triggerer's triggers go to another triggerer once its heartbeat is older than this (default 30 s).
HEALTH_CHECK_THRESHOLD = 10

pytestmark = [
    pytest.mark.milvus,
    pytest.mark.airflow_e2e,
    pytest.mark.filterwarnings("ignore::pymilvus.decorators.PyMilvusDeprecationWarning"),
]


def kill_service(env: AirflowEnv, service: str, timeout: float = 15.0) -> list[int]:
    """SIGKILL a service's process group (and every descendant); wait until all are gone; return their PIDs."""
    return env.kill(service, timeout=timeout)


def milvus_state(alias: str, job_id: str) -> str:
    """The job's state name as Milvus itself reports it (pymilvus, independent of the provider)."""
    return str(utility.get_bulk_insert_state(int(job_id), using=alias, timeout=10).state_name)


def test_sensor_survives_triggerer_sigkill_and_restart(
    milvus_server: MilvusServer, airflow_env_factory: AirflowEnvFactory, tmp_path: Path
) -> None:
    """Kill -9 the triggerer while the sensor is deferred; the restarted triggerer finishes the wait."""
    began = time.monotonic()
    timings: dict[str, float] = {}
    alias = f"restart_{uuid.uuid4().hex[:8]}"
    connections.connect(alias=alias, host=milvus_server.host, port=str(milvus_server.port), timeout=30)
    collection = create_import_collection(alias, f"restart_{uuid.uuid4().hex[:12]}")
    blocker = create_import_collection(alias, f"restart_blocker_{uuid.uuid4().hex[:8]}")
    try:
        files = write_numpy_files(tmp_path / "import", ROWS)
        env = airflow_env_factory(
            dags_folder=REPO / "example_dags",
            extra_env={"AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD)},
        )
        env.add_connection("milvus_default", "milvus", host=milvus_server.uri, extra={"protocol": "auto"})
        env.wait_for_dag(DAG_ID, timeout=60)
        timings["setup"] = time.monotonic() - began

        # Queue the blockers, then run the DAG: its import waits behind them.
        mark = time.monotonic()
        blockers = [
            str(utility.do_bulk_insert(blocker.name, files=files, using=alias, timeout=30)) for _ in range(BLOCKERS)
        ]
        run_id = env.trigger_dag(DAG_ID, {"collection_name": collection.name, "files": files})
        deferred = env.wait_for_deferred(DAG_ID, run_id, SENSOR, timeout=120)
        trigger = deferred.get("trigger") or {}
        assert trigger.get("classpath") == TRIGGER_CLASSPATH, deferred
        job_id = str(env.xcom(DAG_ID, run_id, "start_import", "job_id"))
        assert job_id.isdigit(), job_id

        # The first triggerer really runs the trigger: it is assigned and has logged a state it read.
        old_triggerer = _wait_assigned(env, run_id, exclude=None, timeout=60)
        env.until(
            lambda: f"job {job_id}:" in _trigger_text(env, run_id, old_triggerer),
            60,
            f"triggerer {old_triggerer} to log a state of job {job_id}",
            interval=0.3,
        )
        assert milvus_state(alias, job_id) in ("Pending", "Started"), "the import must still be in flight"
        timings["trigger -> deferred in triggerer 1"] = time.monotonic() - mark

        # SIGKILL: no chance to clean up, the trigger row keeps the dead triggerer's id.
        mark = time.monotonic()
        killed = kill_service(env, "triggerer")
        assert not env.running("triggerer")
        left = [p.pid for p in env.processes() if "triggerer" in " ".join(_cmdline(p))]
        assert not left, f"triggerer processes left after SIGKILL: {left}"
        states_seen = {env.task_instance(DAG_ID, run_id, SENSOR)["state"]}
        env.start("triggerer", timeout=120)
        timings["kill + restart"] = time.monotonic() - mark

        # The task instance stays deferred until the new triggerer owns the same trigger.
        mark = time.monotonic()
        new_triggerer = _wait_assigned(env, run_id, exclude=old_triggerer, timeout=90, states_seen=states_seen)
        assert states_seen == {"deferred"}, f"the sensor left 'deferred' across the restart: {states_seen}"
        ti = env.task_instance(DAG_ID, run_id, SENSOR)
        assert (ti.get("trigger") or {}).get("id") == trigger["id"], "the same trigger row was taken over"
        state_at_takeover = milvus_state(alias, job_id)
        assert state_at_takeover in ("Pending", "Started", "Persisted"), (
            f"job {job_id} already {state_at_takeover} when the new triggerer took over: raise E2E_RESTART_BLOCKERS"
        )
        timings["restart -> takeover"] = time.monotonic() - mark

        mark = time.monotonic()
        state = env.wait_for_run(DAG_ID, run_id, timeout=150)
        timings["takeover -> run done"] = time.monotonic() - mark
        tis = {t["task_id"]: t for t in env.task_instances(DAG_ID, run_id)}
        tasks = {task_id: t["state"] for task_id, t in tis.items()}
        assert state == "success", f"run {state}: {tasks}\n{env.task_log(DAG_ID, run_id, SENSOR)}"
        assert tasks == {"start_import": "success", SENSOR: "success", "check_rows": "success"}
        assert tis[SENSOR]["try_number"] == 1, "the sensor was retried instead of resumed"

        # Both triggerers logged into the same attempt; the new one saw the job end.
        assert _trigger_logs(env, run_id, old_triggerer), "no log of the killed triggerer"
        new_logs = _trigger_logs(env, run_id, new_triggerer)
        assert new_logs, f"no trigger log of triggerer {new_triggerer}: {env.trigger_log_files(DAG_ID, run_id, SENSOR)}"
        new_text = _trigger_text(env, run_id, new_triggerer)
        assert f"job {job_id}: Completed, 100%, {ROWS} rows" in new_text, new_text[-3000:]

        final = env.xcom(DAG_ID, run_id, SENSOR)
        assert final["state_name"] == "Completed" and final["state"] == 6, final
        assert final["task_id"] == job_id
        assert final["row_count"] == ROWS
        assert final["progress"] == 100
        assert final["collection_name"] == collection.name
        assert env.xcom(DAG_ID, run_id, "check_rows") == ROWS
        assert all(milvus_state(alias, b) == "Completed" for b in blockers)

        env.stop()
        assert not env.processes()
        assert not any(psutil.pid_exists(pid) and _is_alive(pid) for pid in killed)
    finally:
        drop_collection(alias, collection.name)
        drop_collection(alias, blocker.name)
        connections.disconnect(alias)

    timings["total"] = time.monotonic() - began
    print(f"\nrun {run_id}: job {job_id} behind {BLOCKERS} blockers; triggerer {old_triggerer} -> {new_triggerer}")
    print(f"  killed pids {killed}; Milvus state at takeover: {state_at_takeover}")
    for name, seconds in timings.items():
        print(f"  {name:<36} {seconds:6.1f} s")


def _cmdline(proc: psutil.Process) -> list[str]:
    """A process's command line, empty if it is gone."""
    try:
        return list(proc.cmdline())
    except psutil.Error:
        return []


def _is_alive(pid: int) -> bool:
    """True if the PID runs and is no zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _trigger_logs(env: AirflowEnv, run_id: str, triggerer_id: int) -> list[Path]:
    """The sensor's trigger log files written by one triggerer."""
    return [p for p in env.trigger_log_files(DAG_ID, run_id, SENSOR) if p.name.endswith(f".trigger.{triggerer_id}.log")]


def _trigger_text(env: AirflowEnv, run_id: str, triggerer_id: int) -> str:
    """The events one triggerer logged for the sensor, one a line."""
    paths = _trigger_logs(env, run_id, triggerer_id)
    return "\n".join(str(e.get("event", "")) for p in paths for e in env.read_log_events(p))


def _wait_assigned(
    env: AirflowEnv, run_id: str, *, exclude: int | None, timeout: float, states_seen: set[str] | None = None
) -> int:
    """Wait until the sensor's trigger is assigned to a triggerer other than ``exclude``; return its job id.

    Every task state seen meanwhile goes into ``states_seen``.
    """
    deadline = time.monotonic() + timeout
    while True:
        ti = env.task_instance(DAG_ID, run_id, SENSOR)
        if states_seen is not None:
            states_seen.add(ti["state"])
        triggerer_id = (ti.get("trigger") or {}).get("triggerer_id")
        if triggerer_id is not None and triggerer_id != exclude:
            return int(triggerer_id)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"trigger not assigned to a triggerer other than {exclude} after {timeout} s: {ti}\n{env.logs_tail()}"
            )
        time.sleep(0.3)
