"""Retries never import twice: which try starts over, and finding the job an earlier try started.

Airflow 3.3's ``ResumableJobMixin`` keeps the job id in ``task_state_store``; two gaps remain that
the operator closes with what is here: a worker that dies between the server's answer and the
store write (and every try on Airflow before 3.3, which has no store) leaves no id behind, so a
retry looks for the job on the server, by collection, partition and files, started since the run
began. Clearing a task starts over: its first try after a clear ignores what earlier tries left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.protocol.idempotency import ImportIdentity
from airflow_provider_milvus.state import BulkInsertState

#: Seconds of clock difference between Airflow and the Milvus server that the search tolerates.
CLOCK_SLACK = 60
#: At most this many jobs without a file list are read one by one while searching.
MAX_DETAIL_READS = 10


def first_try_of_generation(try_number: int, max_tries: int, retries: int) -> bool:
    """True for the first try since the task was scheduled or cleared (Airflow's ``first_try_number``)."""
    return try_number <= max_tries - retries + 1


def try_in_generation(try_number: int, max_tries: int, retries: int) -> tuple[int, int]:
    """(the generation's first try number, this try's place in it from 1): clearing starts a new generation.

    Airflow sets ``max_tries`` to ``try_number + retries`` when a task is cleared, and to ``retries``
    when it is first scheduled, so ``max_tries - retries + 1`` is the same for every try between two clears.
    """
    first = max(1, max_tries - retries + 1)
    return first, max(1, try_number - first + 1)


def import_identity(context: Any, task: Any) -> tuple[ImportIdentity, int]:
    """What identifies this task instance's import across its tries, and this try's place in the generation.

    Read from the task instance (DAG, task, run, map index, ``try_number``, ``max_tries``). Where the
    tries cannot be told apart from a clear (no ``max_tries``), every try is its own generation: its key
    is then never shared with another try, which can never merge two imports.
    """
    ti = context["ti"]
    dag_run = context.get("dag_run")
    run_id = getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", None) or ""
    map_index = getattr(ti, "map_index", -1)
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    if isinstance(try_number, int) and isinstance(max_tries, int):
        first, place = try_in_generation(try_number, max_tries, int(getattr(task, "retries", 0) or 0))
        generation = str(first)
    else:
        generation, place = f"try-{try_number}", 1
    identity = ImportIdentity(
        dag_id=str(getattr(ti, "dag_id", None) or task.dag_id),
        task_id=str(getattr(ti, "task_id", None) or task.task_id),
        run_id=str(run_id),
        map_index=map_index if isinstance(map_index, int) else -1,
        generation=generation,
    )
    return identity, place


def import_files(files: Any) -> frozenset[str]:
    """All paths of an import's ``files`` (one unit, or a list of units), as a set."""
    if isinstance(files, str):
        return frozenset({files})
    out: set[str] = set()
    for item in files or ():
        if isinstance(item, list | tuple):
            out.update(str(f) for f in item)
        else:
            out.add(str(item))
    return frozenset(out)


def _order(state: BulkInsertState) -> tuple[int, int, str]:
    """Newest first: creation time, then the numeric id (gRPC ids grow), then the id text."""
    return (state.create_timestamp, int(state.task_id) if state.task_id.isdigit() else -1, state.task_id)


def same_import(state: BulkInsertState, collection_name: str, partition_name: str | None, files: Any) -> bool:
    """True when the job imports exactly these files into this collection (and partition, when given)."""
    if state.collection_name != collection_name or import_files(state.files) != import_files(files):
        return False
    return not partition_name or state.partition_name in ("", partition_name)


def find_earlier_job(
    listed: Iterable[BulkInsertState],
    read: Callable[[str], BulkInsertState],
    *,
    collection_name: str,
    partition_name: str | None,
    files: Any,
    since: float,
) -> BulkInsertState | None:
    """The newest job of this import created since ``since`` (seconds), or None.

    Jobs listed without their files or creation time (REST ``list`` gives neither) are read one by one,
    newest id first, at most ``MAX_DETAIL_READS`` of them. A job whose creation time is still unknown
    after that (REST before 2.6.6) is never taken: a daily import of the same path would match.
    """
    earliest = since - CLOCK_SLACK

    def candidate(state: BulkInsertState) -> bool:
        if state.collection_name not in ("", collection_name):
            return False
        if state.create_timestamp:
            return state.create_timestamp >= earliest
        return state.task_id not in ("", "0")  # legacy gRPC lists every job as id 0: nothing to read

    reads = 0
    for state in sorted(filter(candidate, listed), key=_order, reverse=True):
        if not (state.files and state.create_timestamp):
            if reads >= MAX_DETAIL_READS:
                continue
            reads += 1
            try:
                state = read(state.task_id)
            except MilvusImportError:
                continue  # gone meanwhile (retention), or unreadable: not a job to reattach to
        if state.create_timestamp >= earliest and same_import(state, collection_name, partition_name, files):
            return state
    return None


class FallbackResumableJobMixin:
    """Stand-in for ``ResumableJobMixin`` where neither Airflow nor common-compat has one: submits every try.

    The operator's ``submit_job`` finds the earlier try's job on the server, so no try imports twice.
    """

    external_id_key: str = "remote_job_id"

    def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.durable = durable

    def execute_resumable(self, context: Any) -> Any:
        """Submit (or find the earlier job), wait, return the result."""
        external_id = self.submit_job(context)  # type: ignore[attr-defined]
        self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
        return self.get_job_result(external_id, context)  # type: ignore[attr-defined]
