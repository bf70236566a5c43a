"""MilvusImportOperator: starts a Milvus bulk import and waits for it (deferred) to end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from airflow_provider_milvus.completion import complete
from airflow_provider_milvus.config import default_deferrable
from airflow_provider_milvus.events import read_event
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.waiting import WaitSettings, wait_for_job, wait_sync


def _text(value: Any) -> Any:
    """A rendered name as text when the template engine turned it into a number."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class MilvusImportOperator(BaseOperator):
    """Starts a bulk import, pushes its ``job_id`` at once, waits for it and pushes the final state.

    :param collection_name: the target collection (templated).
    :param files: one import unit (a list of paths) or a list of units (templated).
    :param partition_name: the target partition (templated).
    :param db_name: the database, when not the connection's (templated).
    :param options: import options, a dict of strings (templated).
    :param milvus_conn_id: the ``milvus`` connection.
    :param wait_for_completion: False returns right after the server accepted the import.
    :param deferrable: wait in the triggerer, holding no worker slot (default True, see ``config.default_deferrable``).
    :param poll_interval: seconds between polls while waiting.
    :param timeout: seconds to wait for the job before failing (None: no limit but the task's own).
    :param max_attempts: consecutive failed reads (network faults, 5xx) before the wait gives up.
    :param stall_timeout: seconds without any change of state, progress or rows before a stall is reported.
    :param on_stall: ``warn`` (log, keep waiting) or ``fail``.
    :param auto_commit: False stages a two-phase import (Milvus 3.0+: option ``auto_commit`` "false"): the
        wait ends successfully once the job is Uncommitted, and MilvusImportCommitOperator publishes it.
        A server without two-phase imports would publish at once: there the task fails before importing.
    """

    template_fields: Sequence[str] = ("collection_name", "files", "partition_name", "db_name", "options")
    template_fields_renderers: ClassVar[dict[str, str]] = {"files": "json", "options": "json"}
    ui_color = "#00b8d4"

    def __init__(
        self,
        *,
        collection_name: str,
        files: list[str] | list[list[str]],
        partition_name: str | None = None,
        db_name: str | None = None,
        options: dict[str, str] | None = None,
        milvus_conn_id: str = MilvusImportHook.default_conn_name,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        max_attempts: int = 10,
        stall_timeout: float | None = None,
        on_stall: str = "warn",
        auto_commit: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.auto_commit = auto_commit
        self.collection_name = collection_name
        self.files = files
        self.partition_name = partition_name
        self.db_name = db_name
        self.options = options
        self.milvus_conn_id = milvus_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.stall_timeout = stall_timeout
        self.on_stall = on_stall
        # Checked at parse time, so a DAG with a bad setting fails to load with a clear message.
        WaitSettings(poll_interval, None, max_attempts, stall_timeout, on_stall)

    @cached_property
    def hook(self) -> MilvusImportHook:
        """The hook of this task's connection."""
        return MilvusImportHook(self.milvus_conn_id)

    def execute(self, context: Any) -> Any:
        """Start the import, push ``job_id``, then wait (deferred, or here when not deferrable)."""
        # With render_template_as_native_obj a name like "2024" renders as a number: names are text.
        job_id = self.hook.start_import(
            _text(self.collection_name), self.files, _text(self.partition_name), _text(self.db_name), self._options()
        )
        context["ti"].xcom_push(key="job_id", value=job_id)
        if not self.wait_for_completion:
            return None
        end_time = time.time() + self.timeout if self.timeout else None
        if self.deferrable:
            self.defer(
                trigger=MilvusImportTrigger(
                    job_id=job_id,
                    milvus_conn_id=self.milvus_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=end_time,
                    protocol=self.hook.protocol,
                    max_attempts=self.max_attempts,
                    stall_timeout=self.stall_timeout,
                    on_stall=self.on_stall,
                    db_name=_text(self.db_name),
                    staged_is_done=not self.auto_commit,
                ),
                method_name="execute_complete",
            )
        settings = WaitSettings(
            self.poll_interval, end_time, self.max_attempts, self.stall_timeout, self.on_stall, not self.auto_commit
        )
        event = wait_sync(
            wait_for_job(job_id, settings, self.log), lambda: self.hook.get_import_state(job_id, _text(self.db_name))
        )
        return complete(context, read_event(event, job_id, accept_staged=not self.auto_commit))

    def _options(self) -> dict[str, str] | None:
        """The import options; with ``auto_commit=False`` the two-phase option, once the server is known to have it."""
        if self.auto_commit:
            return self.options
        if not self.hook.supports_two_phase():
            raise AirflowFailException(
                f"{self.task_id}: auto_commit=False needs two-phase imports (Milvus 3.0 or later), which the server "
                f"of connection {self.milvus_conn_id!r} does not have: it would publish the data at once, so nothing "
                "was imported"
            )
        return {**(self.options or {}), "auto_commit": "false"}

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: succeed only on a Completed state, push the state in every case."""
        outcome = read_event(event, accept_staged=not self.auto_commit)
        self.log.info("Import job %s: %s (%s)", outcome.job_id, outcome.status, outcome.message)
        return complete(context, outcome)


def wait_or_defer(task: Any, context: Any, job_id: str, db_name: str | None, settings: WaitSettings) -> Any:
    """Wait for ``job_id`` as ``settings`` say: deferred to a MilvusImportTrigger, or polling in the worker.

    ``task`` has ``deferrable``, ``milvus_conn_id``, ``hook`` and an ``execute_complete``; the outcome ends
    the task through :func:`complete` (the final state pushed in every case).
    """
    if task.deferrable:
        task.defer(
            trigger=MilvusImportTrigger(
                job_id=job_id,
                milvus_conn_id=task.milvus_conn_id,
                poll_interval=settings.poll_interval,
                end_time=settings.end_time,
                protocol=task.hook.protocol,
                max_attempts=settings.max_attempts,
                stall_timeout=settings.stall_timeout,
                on_stall=settings.on_stall,
                db_name=db_name,
                staged_is_done=settings.staged_is_done,
            ),
            method_name="execute_complete",
        )
    event = wait_sync(wait_for_job(job_id, settings, task.log), lambda: task.hook.get_import_state(job_id, db_name))
    return complete(context, read_event(event, job_id, accept_staged=settings.staged_is_done))


class MilvusImportCommitOperator(BaseOperator):
    """Commits a staged two-phase import (Milvus 3.0+) and waits, deferred, for it to complete.

    :param job_id: the staged (Uncommitted) job, e.g. the ``job_id`` XCom of a MilvusImportOperator with
        ``auto_commit=False`` (templated).
    :param milvus_conn_id: the ``milvus`` connection.
    :param db_name: the job's database, when not the connection's (templated).
    :param wait_for_completion: False returns once the server accepted the commit.
    :param deferrable: wait in the triggerer, holding no worker slot.
    :param poll_interval: seconds between polls while waiting.
    :param timeout: seconds to wait for Completed before failing (None: no limit but the task's own).
    :param max_attempts: consecutive failed reads (network faults, 5xx) before the wait gives up.
    """

    template_fields: Sequence[str] = ("job_id", "db_name")
    ui_color = "#00b8d4"

    def __init__(
        self,
        *,
        job_id: str,
        milvus_conn_id: str = MilvusImportHook.default_conn_name,
        db_name: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        max_attempts: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.milvus_conn_id = milvus_conn_id
        self.db_name = db_name
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_attempts = max_attempts
        WaitSettings(poll_interval, None, max_attempts)  # checked at parse time

    @cached_property
    def hook(self) -> MilvusImportHook:
        """The hook of this task's connection."""
        return MilvusImportHook(self.milvus_conn_id)

    def execute(self, context: Any) -> Any:
        """Commit, then wait (deferred, or here when not deferrable) for Completed."""
        job_id, db_name = str(self.job_id), _text(self.db_name) or None
        self.hook.commit_import(job_id, db_name)
        if not self.wait_for_completion:
            return None
        end_time = time.time() + self.timeout if self.timeout else None
        return wait_or_defer(
            self, context, job_id, db_name, WaitSettings(self.poll_interval, end_time, self.max_attempts)
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: succeed only on Completed, push the final state in every case."""
        outcome = read_event(event, str(self.job_id))
        self.log.info("Import job %s: %s (%s)", outcome.job_id, outcome.status, outcome.message)
        return complete(context, outcome)


class MilvusImportAbortOperator(BaseOperator):
    """Abandons an import job (Milvus 3.0+), e.g. a staged one whose data failed a check.

    :param job_id: the job (templated).
    :param milvus_conn_id: the ``milvus`` connection.
    :param db_name: the job's database, when not the connection's (templated).
    """

    template_fields: Sequence[str] = ("job_id", "db_name")
    ui_color = "#ff8a65"

    def __init__(
        self,
        *,
        job_id: str,
        milvus_conn_id: str = MilvusImportHook.default_conn_name,
        db_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.milvus_conn_id = milvus_conn_id
        self.db_name = db_name

    def execute(self, context: Any) -> None:
        """Ask the server to abort the job."""
        MilvusImportHook(self.milvus_conn_id).abort_import(str(self.job_id), _text(self.db_name) or None)
