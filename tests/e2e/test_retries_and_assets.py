"""End to end: retries never import twice, and a completed import starts the DAG scheduled on its asset.

Real Milvus 2.3.5 and one real Airflow 3.3 (api-server, scheduler, triggerer, dag-processor,
LocalExecutor, PostgreSQL as in production: on SQLite a locked database under load can leave a task's
state update unwritten, and its run waits for the heartbeat timeout) for all cases. Each retry case
(``tests/e2e/dags/retry_cases.py``) injects one fault into try 1 of a ``MilvusImportOperator``;
afterwards the test counts the server's import jobs for the case's collection and the collection's rows,
and reads the final XCom:

(a) the task process SIGKILLs itself right after the server accepted the import, before deferring;
(b) the deferred wait ends in error (reads through a closed port, past ``max_attempts``);
(c) the in-worker wait times out;
(d) the job fails (missing file) and the retry, with the file in place, imports anew;
(e) the deferred task is cleared: Airflow 3.3 calls the trigger's ``on_kill``, which logs that
    Milvus 2.3 cannot cancel a running import, and the cleared task starts over with a new import;
(f) the answer to try 1's ``create`` is lost after the server started the job: Milvus 2.3.5 ignores
    the idempotency key (GetVersion v2.3.5), so the retry finds the job by files and creation time;
(g) the same lost answer, dropped by the server itself: an emulated Milvus 2.6.24 (REST, in this
    process) that honours the key; the retry sends ``create`` again with the same key and gets the
    first job back.

In (a)-(c) and (f): one job, rows counted once, the retry ends with that job's final state in XCom. In
(d): two jobs (the failed one and the new one), rows counted once. In (g): one job on the emulated
server, both ``create`` requests with the same ``Idempotency-Key``.

The asset pair (``example_dags/example_milvus_asset_*``): the producer imports into a collection;
the consumer, scheduled on ``Asset("milvus://127.0.0.1:19530/default/<collection>")``, must start
by itself and read the job id and row count from the triggering event.

Airflow 3.3.2's own race: under load, a deferred task whose trigger fires within seconds can be failed by
the scheduler ("state mismatch": the executor's late report of the try that deferred finds the resumed try
queued), with nothing in the task's log. Its retry then reattaches to the same job. Such tries, and only
those (read from Airflow's audit log), are not counted as the provider's: each case must end in the tries
its fault explains, plus Airflow's. The producer keeps the example's ``retries=2`` with a 5 s retry delay
(Airflow's default is 5 min) for that.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pymilvus import Collection, connections, utility

from tests.airflow_env.fixtures import AirflowEnvFactory
from tests.airflow_env.harness import AirflowEnv, AirflowEnvError, free_port
from tests.airflow_env.postgres import PostgresServer
from tests.emulator.grpc_server import MilvusEndpoint
from tests.milvus_server.data import create_import_collection, drop_collection, write_row_json
from tests.milvus_server.server import MilvusServer

REPO = Path(__file__).resolve().parents[2]
ROWS = 1000
TASK = "import_rows"
CASES = {
    "a": "retry_kill_after_start",
    "b": "retry_wait_error",
    "c": "retry_wait_timeout",
    "d": "retry_fail_then_fix",
    "e": "retry_cleared_while_deferred",
    "f": "retry_lost_answer",
}
#: (g): the lost answer on an emulated server that honours idempotency keys (not on the real Milvus).
KEYS_CASE = "retry_lost_answer_keys"
CREATE = "/v2/vectordb/jobs/import/create"
PRODUCER, CONSUMER = "example_milvus_asset_producer", "example_milvus_asset_consumer"

T = TypeVar("T")

pytestmark = [
    pytest.mark.milvus,
    pytest.mark.airflow_e2e,
    pytest.mark.filterwarnings("ignore::pymilvus.decorators.PyMilvusDeprecationWarning"),
]


def dags_folder(tmp_path: Path) -> Path:
    """The test DAGs and the example asset pair, linked into one folder."""
    folder = tmp_path / "dags"
    folder.mkdir()
    for source in (
        REPO / "tests/e2e/dags/retry_cases.py",
        REPO / f"example_dags/{PRODUCER}.py",
        REPO / f"example_dags/{CONSUMER}.py",
    ):
        (folder / source.name).symlink_to(source)
    return folder


def server_jobs(alias: str, collection: str) -> list[Any]:
    """The import jobs the server knows for the collection."""
    return list(utility.list_bulk_insert_tasks(collection_name=collection, timeout=30, using=alias))


def rows_in(collection: Collection) -> int:
    collection.flush(timeout=60)
    return int(collection.num_entities)


def tries(env: AirflowEnv, dag_id: str, run_id: str, task_id: str = TASK) -> tuple[int, int]:
    """The tries the task took, and how many of them the scheduler failed by Airflow's state-mismatch race."""
    taken = int(env.task_instance(dag_id, run_id, task_id)["try_number"])
    return taken, len(env.state_mismatches(dag_id, run_id, task_id))


def explained(taken: tuple[int, int], expected: int, own: int = 0) -> bool:
    """True when the tries taken are the ``expected`` ones plus at most one per state mismatch (a mismatch may
    also fail a try that was failing anyway: then it adds none). ``own``: mismatches the case's fault makes
    itself (a task process SIGKILLed is one: only its executor can tell the scheduler)."""
    count, mismatches = taken
    return count - (mismatches - own) <= expected <= count and mismatches >= own


def retried(call: Callable[[], T], attempts: int = 5) -> T:
    """``call()``, again after a "Database error" 500 (a metadata database busy with the dag-processor's writes)."""
    for attempt in range(attempts):
        try:
            return call()
        except AirflowEnvError as error:
            if "Database error" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def wait_for_trigger_running(env: AirflowEnv, dag_id: str, run_id: str, timeout: float = 120) -> None:
    """Until the triggerer has started the task's trigger: its trigger log file has a line."""
    deadline = time.monotonic() + timeout
    while not any(path.stat().st_size for path in env.trigger_log_files(dag_id, run_id, TASK)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{dag_id}: the triggerer did not start the trigger within {timeout} s")
        time.sleep(0.5)


def test_retries_never_import_twice_and_assets_trigger(
    milvus_server: MilvusServer,
    postgres_server: PostgresServer,  # set up before, so torn down after, the Airflow services
    airflow_env_factory: AirflowEnvFactory,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    keys_server: MilvusEndpoint | None = None
    alias = f"e2e_{uuid.uuid4().hex[:8]}"
    connections.connect(alias=alias, host=milvus_server.host, port=str(milvus_server.port), timeout=30)
    collections = {case: create_import_collection(alias, f"retry_{case}_{uuid.uuid4().hex[:8]}") for case in CASES}
    collections["asset"] = create_import_collection(alias, f"asset_{uuid.uuid4().hex[:8]}")
    try:
        data = (tmp_path / "data").resolve()
        confs: dict[str, dict[str, Any]] = {}
        for case in CASES:
            name = collections[case].name
            path = write_row_json(data / f"{case}.json", ROWS)
            confs[case] = {"collection_name": name, "files": [path], "source": ""}
        # (d): the import file appears only on the retry (the DAG copies it from `source`).
        source = data / "d.json"
        missing = data / "d-later.json"
        confs["d"] |= {"files": [str(missing)], "source": str(source)}
        asset_file = write_row_json(data / "asset.json", ROWS)

        # (g): an emulated Milvus 2.6.24 (REST and gRPC on one port) starts the first create's job, drops its answer.
        keys_server = MilvusEndpoint("2.6.24").start()
        keys_server.rest.inject_close(route=CREATE, process=True)
        keys_conn = {"conn_type": "milvus", "host": keys_server.base_url, "extra": {"protocol": "rest"}}
        conn = {"conn_type": "milvus", "host": milvus_server.uri, "extra": {"protocol": "grpc"}}
        broken = {"conn_type": "milvus", "host": f"http://127.0.0.1:{free_port()}", "extra": {"protocol": "grpc"}}
        env = airflow_env_factory(
            dags_folder=dags_folder(tmp_path),
            database_url=postgres_server.create_database("airflow"),
            extra_env={
                "AIRFLOW_CONN_MILVUS_DEFAULT": json.dumps(conn),
                "AIRFLOW_CONN_MILVUS_BROKEN": json.dumps(broken),
                "AIRFLOW_CONN_MILVUS_KEYS": json.dumps(keys_conn),
                "MILVUS_EXAMPLE_COLLECTION": collections["asset"].name,
                # The example producer's own retries, within this test's time (the retry cases set their own).
                "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5",
            },
        )
        started = time.monotonic() - began
        runs = {case: retried(lambda d=dag_id, c=confs[case]: env.trigger_dag(d, c)) for case, dag_id in CASES.items()}
        keys_conf = {"collection_name": "keys", "files": ["/data/keys.parquet"], "source": ""}
        keys_run = retried(lambda: env.trigger_dag(KEYS_CASE, keys_conf))
        env.wait_for_dag(CONSUMER)
        retried(lambda: env.unpause(CONSUMER))
        producer_run = retried(lambda: env.trigger_dag(PRODUCER, {"files": [asset_file]}))

        # (e): clear the task while its first try is deferred AND its trigger runs in the triggerer (a
        # trigger not yet picked up is only deleted: no on_kill).
        env.wait_for_deferred(CASES["e"], runs["e"], TASK, timeout=120)
        wait_for_trigger_running(env, CASES["e"], runs["e"])
        retried(
            lambda: env.api_json(
                "POST",
                f"dags/{CASES['e']}/clearTaskInstances",
                json={"dry_run": False, "dag_run_id": runs["e"], "task_ids": [TASK], "only_failed": False},
            )
        )

        results: dict[str, dict[str, Any]] = {}
        for case, dag_id in CASES.items():
            state = env.wait_for_run(dag_id, runs[case], timeout=180)
            assert state == "success", f"{dag_id}: {state}\n{env.task_log(dag_id, runs[case], TASK, 1)[-3000:]}"
            final = env.xcom(dag_id, runs[case], TASK)
            jobs = server_jobs(alias, collections[case].name)
            results[case] = {
                "jobs": sorted((str(j.task_id), j.state_name) for j in jobs),
                "rows": rows_in(collections[case]),
                "tries": tries(env, dag_id, runs[case]),
                "xcom": {k: final[k] for k in ("task_id", "state_name", "row_count")},
                "job_id_xcom": str(env.xcom(dag_id, runs[case], TASK, "job_id")),
            }

        for case in "abcf":
            result = results[case]
            (job_id, state_name), *more = result["jobs"]
            assert not more and state_name == "Completed", result
            assert result["rows"] == ROWS and explained(result["tries"], 2, own=int(case == "a")), result
            assert result["xcom"] == {"task_id": job_id, "state_name": "Completed", "row_count": ROWS}, result
            assert result["job_id_xcom"] == job_id, result
        d = results["d"]
        assert sorted(name for _, name in d["jobs"]) == ["Completed", "Failed"], d
        completed = next(job for job, name in d["jobs"] if name == "Completed")
        assert d["rows"] == ROWS and explained(d["tries"], 2), d
        assert d["xcom"] == {"task_id": completed, "state_name": "Completed", "row_count": ROWS}, d

        e = results["e"]
        assert [name for _, name in e["jobs"]] == ["Completed", "Completed"] and e["rows"] == 2 * ROWS, e
        assert explained(e["tries"], 2) and e["xcom"]["task_id"] == max(job for job, _ in e["jobs"]), e
        trigger_text = "\n".join(
            str(event.get("event", ""))
            for path in env.trigger_log_files(CASES["e"], runs["e"], TASK)
            for event in env.read_log_events(path)
        )
        assert "Milvus cannot cancel a running import" in trigger_text, trigger_text[-3000:]
        assert "First try since the task was cleared" in env.task_log(CASES["e"], runs["e"], TASK, 2)

        # (g): one job on the server that honours keys; both creates carried the same key.
        assert env.wait_for_run(KEYS_CASE, keys_run, timeout=180) == "success", env.task_log(
            KEYS_CASE, keys_run, TASK, 2
        )
        keys_jobs = keys_server.rest.job_ids
        keys_sent = [r.header("Idempotency-Key") for r in keys_server.rest.requests if r.route == CREATE]
        keys_final = env.xcom(KEYS_CASE, keys_run, TASK)
        assert len(keys_jobs) == 1 and keys_final["task_id"] == keys_jobs[0], (keys_jobs, keys_final)
        assert keys_final["state_name"] == "Completed" and explained(tries(env, KEYS_CASE, keys_run), 2)
        assert len(keys_sent) == 2 and keys_sent[0] == keys_sent[1] and keys_sent[0], keys_sent
        assert keys_server.grpc.count("GetVersion") == 1  # the retry asked the version; try 1 did not
        said = f"Import job {keys_jobs[0]} is the one of idempotency key {keys_sent[0]}"
        assert said in env.task_log(KEYS_CASE, keys_run, TASK, 2)
        # (f): Milvus 2.3.5 ignores the key: the retry searched and reattached.
        assert "Reattaching to import job" in env.task_log(CASES["f"], runs["f"], TASK, 2)

        # The log of (a)'s retry says it reattached to the job the killed try started.
        retry_log = env.task_log(CASES["a"], runs["a"], TASK, 2)
        assert "Reattaching to import job" in retry_log, retry_log[-3000:]

        # The asset pair: the producer's import starts the consumer by itself.
        assert env.wait_for_run(PRODUCER, producer_run, timeout=240) == "success"
        producer_tries = tries(env, PRODUCER, producer_run, "import_products")
        assert explained(producer_tries, 1), env.unfinished_task_logs(
            PRODUCER, producer_run, {"import_products": "retried"}
        )
        produced = env.xcom(PRODUCER, producer_run, "import_products")
        consumer = env.wait_for_first_run(CONSUMER)
        assert consumer["state"] == "success" and consumer["run_type"] == "asset_triggered", consumer
        read = env.xcom(CONSUMER, consumer["dag_run_id"], "read_import")
        assert read == {"job_id": produced["task_id"], "row_count": ROWS, "files": [asset_file]}, read
        uri = f"milvus://127.0.0.1:19530/default/{collections['asset'].name}"
        events = env.api_json("GET", "assets/events", params={"source_dag_id": PRODUCER})["asset_events"]
        assert [e["uri"] for e in events] == [uri] and events[0]["extra"]["job_id"] == produced["task_id"], events
        assert rows_in(collections["asset"]) == ROWS
        elapsed = time.monotonic() - began
    finally:
        if keys_server is not None:
            keys_server.stop()
        for collection in collections.values():
            drop_collection(alias, collection.name)
        connections.disconnect(alias)

    print(f"\nAirflow up after {started:.1f} s; whole test {elapsed:.1f} s")
    print("case | jobs on the server | rows | tries | final XCom return_value")
    for case, result in results.items():
        print(f"({case}) {CASES[case]} | {result['jobs']} | {result['rows']} | {result['tries']} | {result['xcom']}")
    print(f"(g) {KEYS_CASE} | emulated 2.6.24 jobs {keys_jobs} | keys sent {keys_sent} | {keys_final['state_name']}")
    print("(e) trigger log:", next(line for line in trigger_text.splitlines() if "cannot cancel" in line))
    print(f"asset event: {events[0]['uri']} extra={events[0]['extra']}")
    print(f"consumer run {consumer['dag_run_id']} ({consumer['run_type']}): read_import -> {read}")
