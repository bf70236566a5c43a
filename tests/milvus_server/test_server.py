"""Prove the real-Milvus fixtures work, using pymilvus as the client (not the project's own client)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from pymilvus import Collection, utility
from pymilvus.client.types import BulkInsertState

from tests.milvus_server import data
from tests.milvus_server.server import MilvusServer, MilvusServerError

# pymilvus is only the test client here; its ORM-style API warns about removal in 3.1.
pytestmark = [
    pytest.mark.milvus,
    pytest.mark.filterwarnings("ignore::pymilvus.decorators.PyMilvusDeprecationWarning"),
]

RPC_TIMEOUT = 30.0
IMPORT_TIMEOUT = 60.0
TERMINAL = {
    BulkInsertState.ImportCompleted,
    BulkInsertState.ImportFailed,
    BulkInsertState.ImportFailedAndCleaned,
}


def wait_for_import(alias: str, task_id: int, timeout: float = IMPORT_TIMEOUT) -> tuple[Any, list[dict[str, Any]]]:
    """Poll ``get_bulk_insert_state`` until a terminal state; return it and the distinct observations."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        state = utility.get_bulk_insert_state(task_id, timeout=RPC_TIMEOUT, using=alias)
        obs = {
            "state": state.state_name,
            "progress": state.infos.get("progress_percent"),
            "row_count": state.row_count,
            "infos_keys": sorted(state.infos),
        }
        if not seen or obs != seen[-1]:
            seen.append(obs)
        if state.state in TERMINAL:
            print(f"\ntask {task_id}: {seen}\nfinal infos: {state.infos}")
            return state, seen
        if time.monotonic() > deadline:
            pytest.fail(f"import task {task_id} not finished within {timeout} s; seen {seen}")
        time.sleep(0.2)


def import_files(alias: str, collection: Collection, files: list[str]) -> int:
    """Start a bulk import of ``files`` into ``collection``; return the task id."""
    task_id = utility.do_bulk_insert(collection.name, files, timeout=RPC_TIMEOUT, using=alias)
    assert isinstance(task_id, int) and task_id > 0
    return task_id


def loaded_count(collection: Collection) -> int:
    """Index, load and ``count(*)`` the collection."""
    collection.create_index(data.VECTOR_FIELD, {"index_type": "FLAT", "metric_type": "L2", "params": {}})
    collection.load(timeout=RPC_TIMEOUT)
    result = collection.query(expr="", output_fields=["count(*)"], timeout=RPC_TIMEOUT)
    return int(result[0]["count(*)"])


def test_server_is_up(milvus_server: MilvusServer, milvus_uri: str) -> None:
    """The session server is healthy, has a PID and a milvus child, and exposes the fixed addresses."""
    assert milvus_server.running and milvus_server.healthy()
    assert milvus_server.pid is not None and psutil.pid_exists(milvus_server.pid)
    assert milvus_server.milvus_pids, "no `milvus run standalone` child"
    assert milvus_server.grpc_address == "127.0.0.1:19530"
    assert milvus_uri == milvus_server.uri == "http://127.0.0.1:19530"
    print(f"\nserver start took {milvus_server.last_start_seconds:.1f} s")


def test_second_server_is_refused(milvus_server: MilvusServer, tmp_path: Path) -> None:
    """Starting another server while one runs fails with a clear message instead of moving ports."""
    other = MilvusServer(tmp_path / "other")
    with pytest.raises(MilvusServerError, match="Only one Milvus server can run per machine"):
        other.start()
    assert other.pid is None
    with pytest.raises(MilvusServerError, match=r"Port 19530 on 127\.0\.0\.1 is already in use"):
        other._check_ports()


def test_start_failure_reports_exit_and_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server process that dies before becoming healthy raises with its exit code and log tail."""
    fake = tmp_path / "fake-milvus-server"
    fake.write_text("#!/bin/sh\necho boom-from-fake-server\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    server = MilvusServer(tmp_path / "data", executable=fake, reuse_ports=False, session_ttl=None)
    # The session server may hold the lock and ports and answer /healthz: take those checks out of the way.
    monkeypatch.setattr(server, "_acquire_lock", lambda: None)
    monkeypatch.setattr(server, "_check_ports", lambda: None)
    monkeypatch.setattr(server, "healthy", lambda: False)
    with pytest.raises(MilvusServerError, match=r"exited with code 3(.|\n)*boom-from-fake-server"):
        server.start()
    assert not server.running and server.pid is None


def test_json_import_completes(pymilvus_alias: str, import_collection: Collection, data_dir: Path) -> None:
    """A 1,000-row row-based JSON file imports to Completed with 1,000 rows."""
    path = data.write_row_json(data_dir / "rows.json", 1000)
    assert Path(path).is_absolute()
    state, seen = wait_for_import(pymilvus_alias, import_files(pymilvus_alias, import_collection, [path]))
    assert state.state == BulkInsertState.ImportCompleted, state
    assert state.row_count == 1000
    assert state.infos["failed_reason"] == ""
    assert seen[-1]["progress"] == "100"
    import_collection.flush(timeout=RPC_TIMEOUT)
    assert import_collection.num_entities == 1000
    assert loaded_count(import_collection) == 1000

    tasks = utility.list_bulk_insert_tasks(
        collection_name=import_collection.name, timeout=RPC_TIMEOUT, using=pymilvus_alias
    )
    print(f"list_bulk_insert_tasks -> {tasks!r}")
    assert [t.task_id for t in tasks] == [state.task_id]
    assert tasks[0].state == BulkInsertState.ImportCompleted


def test_numpy_import_completes(pymilvus_alias: str, import_collection: Collection, data_dir: Path) -> None:
    """One ``.npy`` per field (``id.npy``, ``vec.npy``) imports to Completed with 1,000 rows."""
    paths = data.write_numpy_files(data_dir / "npy", 1000)
    assert [Path(p).name for p in paths] == ["id.npy", "vec.npy"]
    state, _ = wait_for_import(pymilvus_alias, import_files(pymilvus_alias, import_collection, paths))
    assert state.state == BulkInsertState.ImportCompleted, state
    assert state.row_count == 1000
    import_collection.flush(timeout=RPC_TIMEOUT)
    assert import_collection.num_entities == 1000


@pytest.mark.parametrize(
    ("writer", "reason"),
    [
        (data.write_unknown_field_json, "the field 'wrong' is not defined in collection schema: importing data failed"),
        (data.write_wrong_dim_json, "array size 4 doesn't equal to vector dimension 8 of field 'vec'"),
        (data.write_malformed_json, "failed to parse row value, error: unexpected EOF: importing data failed"),
    ],
    ids=["unknown-field", "wrong-dim", "malformed"],
)
def test_bad_file_import_fails(
    pymilvus_alias: str, import_collection: Collection, data_dir: Path, writer: Any, reason: str
) -> None:
    """A bad file ends in state Failed with the documented reason text."""
    path = writer(data_dir / "bad.json")
    state, _ = wait_for_import(pymilvus_alias, import_files(pymilvus_alias, import_collection, [path]))
    assert state.state == BulkInsertState.ImportFailed, state
    assert state.state_name == "Failed"
    assert reason in state.infos["failed_reason"]
    assert import_collection.num_entities == 0


def test_restart_keeps_tasks_and_data(
    running_milvus_server: MilvusServer, pymilvus_alias: str, import_collection: Collection, data_dir: Path
) -> None:
    """After ``restart()`` an import task id from before is still readable and the rows are still there."""
    path = data.write_row_json(data_dir / "rows.json", 1000)
    before, _ = wait_for_import(pymilvus_alias, import_files(pymilvus_alias, import_collection, [path]))
    assert before.state == BulkInsertState.ImportCompleted
    old_pid, old_children = running_milvus_server.pid, running_milvus_server.milvus_pids

    running_milvus_server.restart()
    print(
        f"\nrestart: stop {running_milvus_server.last_stop_seconds:.1f} s,"
        f" start {running_milvus_server.last_start_seconds:.1f} s"
    )
    assert running_milvus_server.pid != old_pid
    assert not [pid for pid in [old_pid, *old_children] if psutil.pid_exists(pid)]
    assert running_milvus_server.grpc_address == "127.0.0.1:19530" and running_milvus_server.healthy()

    after = utility.get_bulk_insert_state(before.task_id, timeout=RPC_TIMEOUT, using=pymilvus_alias)
    print(f"task {before.task_id} after restart: {after!r}")
    assert after.state == BulkInsertState.ImportCompleted
    assert after.row_count == 1000
    tasks = utility.list_bulk_insert_tasks(
        collection_name=import_collection.name, timeout=RPC_TIMEOUT, using=pymilvus_alias
    )
    assert before.task_id in [t.task_id for t in tasks]
    assert import_collection.num_entities == 1000

    # restart() returns only once the dead process's node sessions expired: without that wait a new
    # import can be dispatched to the dead datanode and hang in Started until importTaskExpiration (900 s).
    assert running_milvus_server.stale_sessions() == []
    more = data.write_row_json(data_dir / "more.json", 1000, start=1000)
    again, _ = wait_for_import(pymilvus_alias, import_files(pymilvus_alias, import_collection, [more]))
    assert again.state == BulkInsertState.ImportCompleted, again
    print(f"post-restart import persist_cost: {again.infos.get('persist_cost')} s")
    import_collection.flush(timeout=RPC_TIMEOUT)
    assert import_collection.num_entities == 2000


def test_stop_then_start(running_milvus_server: MilvusServer) -> None:
    """``stop()`` leaves no process and no listener; ``start()`` brings the server back."""
    pids = [running_milvus_server.pid, *running_milvus_server.milvus_pids]
    running_milvus_server.stop()
    assert not running_milvus_server.running and running_milvus_server.pid is None
    assert not [pid for pid in pids if pid is not None and psutil.pid_exists(pid)]
    assert not running_milvus_server.healthy()
    running_milvus_server.start()
    assert running_milvus_server.healthy()
