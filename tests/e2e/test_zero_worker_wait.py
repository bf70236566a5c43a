"""End to end on real Airflow 3.3 services: a sensor that starts and ends in the triggerer, with no worker.

``tests/e2e/dags_zero_worker/zero_worker_waits.py``: ``MilvusImportSensor(start_from_trigger=True,
end_from_trigger=True)`` on jobs of the REST v2 emulator (its clock stands still until both sensors
are deferred, so neither job can end before its wait began):

- ``zero_worker_success``: the job completes; the task succeeds with the final state as its
  ``return_value``, read back through the REST API;
- ``zero_worker_retried`` (``retries=1``): the job fails; try 1 is retried (Airflow 3.3.1+ honours
  retries for a failure ended in the triggerer), try 2 fails for good with the state (and
  the server's reason) as ``return_value``; each try's log, served by the REST API, names the reason.

No worker ran: every task process begins with the execution API's ``PATCH .../run``, and the
api-server answered exactly 2 of them, both for ``zero_worker_control``'s usual deferred sensor on
the same completed job (start and resume; these DAGs have no other task); no task instance or try
of the zero-worker sensors has a worker's hostname or pid, while the control's has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_env.fixtures import AirflowEnvFactory
from tests.airflow_env.harness import AirflowEnv
from tests.emulator.server import ImportEmulator

REPO = Path(__file__).resolve().parents[2]
TASK = "wait"
REASON = "failed to import file"  # the emulator's reason for a file whose path says "fail"

pytestmark = [pytest.mark.airflow_e2e]


def tries(env: AirflowEnv, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every try of the sensor (``.../tries``), oldest first."""
    path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK}/tries"
    return sorted(env.api_json("GET", path)["task_instances"], key=lambda ti: ti["try_number"])


def never_on_a_worker(ti: dict[str, Any]) -> bool:
    """A task instance (or try) no worker ran: no hostname, no pid, never queued for an executor."""
    return not ti.get("hostname") and ti.get("pid") is None and ti.get("queued_when") is None


def test_a_sensor_starts_and_ends_in_the_triggerer_with_no_worker(
    airflow_env_factory: AirflowEnvFactory, make_emulator: Callable[..., ImportEmulator]
) -> None:
    emulator = make_emulator(mode="rest", job_duration=4, speed=0)
    good = emulator.create_job("articles", [["/data/articles/1.parquet"]])
    bad = emulator.create_job("articles", [["/data/articles/fail.parquet"]])
    conn = {"conn_type": "milvus", "host": emulator.base_url, "extra": {"protocol": "rest"}}
    env = airflow_env_factory(
        dags_folder=REPO / "tests/e2e/dags_zero_worker",
        extra_env={"AIRFLOW_CONN_MILVUS_DEFAULT": json.dumps(conn)},
    )
    _, offset = env.task_starts()
    runs = {
        "zero_worker_success": env.trigger_dag("zero_worker_success", {"job_id": good}),
        "zero_worker_retried": env.trigger_dag("zero_worker_retried", {"job_id": bad}),
        "zero_worker_control": env.trigger_dag("zero_worker_control", {"job_id": good}),
    }
    for dag_id, run_id in runs.items():
        deferred = env.wait_for_deferred(dag_id, run_id, TASK, timeout=120)
        assert never_on_a_worker(deferred) is (dag_id != "zero_worker_control"), deferred
    emulator.clock.speed = 1.0  # every wait began: the jobs now run and end

    # Success: ended in the triggerer with the final state as return_value.
    dag_id, run_id = "zero_worker_success", runs["zero_worker_success"]
    assert env.wait_for_run(dag_id, run_id, timeout=180) == "success"
    ti = env.task_instance(dag_id, run_id, TASK)
    assert (ti["state"], ti["try_number"]) == ("success", 1) and never_on_a_worker(ti), ti
    state = env.xcom(dag_id, run_id, TASK)
    assert (state["task_id"], state["state_name"], state["state"]) == (good, "Completed", 6), state
    assert state["row_count"] == state["total_rows"] > 0, state

    # Failure: try 1 up for retry, try 2 failed, the server's reason in each try's log and in the state.
    dag_id, run_id = "zero_worker_retried", runs["zero_worker_retried"]
    assert env.wait_for_run(dag_id, run_id, timeout=180) == "failed"
    history = tries(env, dag_id, run_id)
    # Two tries: the first failure was retried (3.3.2 archives try 1 with the state it failed with).
    assert [(t["try_number"], t["state"]) for t in history] == [(1, "failed"), (2, "failed")], history
    assert env.task_instance(dag_id, run_id, TASK)["try_number"] == 2
    assert all(never_on_a_worker(t) for t in history), history
    state = env.xcom(dag_id, run_id, TASK)
    assert (state["task_id"], state["state_name"]) == (bad, "Failed") and REASON in state["failed_reason"], state
    for try_number in (1, 2):
        log = env.task_log(dag_id, run_id, TASK, try_number)
        assert f"Import job {bad}: failed" in log and REASON in log, log[-3000:]

    # No worker for the zero-worker sensors: the 2 task runs the api-server answered are the control's.
    dag_id, run_id = "zero_worker_control", runs["zero_worker_control"]
    assert env.wait_for_run(dag_id, run_id, timeout=180) == "success"
    control = env.task_instance(dag_id, run_id, TASK)
    assert control["hostname"] and not never_on_a_worker(control), control
    started, _ = env.task_starts(offset)
    assert started == 2, env.service_log_tail("api-server", 60)
    print(f"\nzero-worker waits: job {good} succeeded, job {bad} failed on both tries; worker task runs: 2 (control)")
