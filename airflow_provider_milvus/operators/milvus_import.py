"""MilvusImportOperator: starts a Milvus bulk import and waits for it (deferred) to end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from airflow_provider_milvus.assets import collection_uri, emit_for_state, import_alias
from airflow_provider_milvus.cancel import abort_or_explain
from airflow_provider_milvus.completion import complete
from airflow_provider_milvus.config import default_deferrable
from airflow_provider_milvus.events import ImportOutcome, outcome_of, read_event
from airflow_provider_milvus.exceptions import MilvusImportConfigError, MilvusImportError
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.protocol.idempotency import ImportIdentity
from airflow_provider_milvus.resume import find_earlier_job, first_try_of_generation, import_identity
from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.storage import bucket_credentials
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.version_compat import HAS_TASK_STATE_STORE, RETRY_KEEPS_RESUME_POINT, ResumableJobMixin
from airflow_provider_milvus.waiting import WaitSettings, wait_for_job, wait_sync

#: XCom key of the try that deferred: on Airflow 3.0 a retry resumes with that try's event, and must not.
DEFERRED_TRY_KEY = "milvus_import_deferred_try"


def _text(value: Any) -> Any:
    """A rendered name as text when the template engine turned it into a number."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class MilvusImportOperator(ResumableJobMixin, BaseOperator):
    """Starts a bulk import, pushes its ``job_id`` at once, waits for it and pushes the final state.

    Retries never import twice: a retry reattaches to the job an earlier try started (waits for it,
    or returns its final state) and starts a new import only after that job failed; clearing the
    task starts over. After a completed import it emits an event for the collection's asset
    (``milvus://HOST:PORT/DB/COLLECTION``).

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
    :param emit_asset: emit an asset event for the collection after the import completed (default True).
    :param durable: a retry reattaches to the earlier try's job (default True; Airflow 3.3+ keeps the
        id in ``task_state_store``, and every release finds the job on the server when no id was kept).
        False: every try starts a new import.
    :param storage_conn_id: Zilliz Cloud (protocol ``cloud``) only: an ``aws`` connection holding the bucket's keys
        (login = access key id, password = secret access key, extra ``aws_session_token``), sent as the
        request's ``accessKey``, ``secretKey`` and ``token`` and masked everywhere.
    :param volume_name: Zilliz Cloud (protocol ``cloud``) only: import from this volume; ``files`` are its data paths.
    :param auto_commit: False stages a two-phase import (Milvus 3.0+: option ``auto_commit`` "false"): the
        wait ends successfully once the job is Uncommitted, and MilvusImportCommitOperator publishes it.
        A server without two-phase imports would publish at once: there the task fails before importing.
    """

    template_fields: Sequence[str] = ("collection_name", "files", "partition_name", "db_name", "options")
    template_fields_renderers: ClassVar[dict[str, str]] = {"files": "json", "options": "json"}
    ui_color = "#00b8d4"
    #: Where Airflow 3.3+ keeps the job id across retries. Renaming it breaks retries in flight.
    external_id_key = "milvus_import_job_id"

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
        emit_asset: bool = True,
        durable: bool = True,
        auto_commit: bool = True,
        storage_conn_id: str | None = None,
        volume_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if storage_conn_id is not None and volume_name is not None:
            raise ValueError(
                "storage_conn_id and volume_name exclude each other: a Zilliz Cloud volume needs no bucket keys"
            )
        for name, value in (("storage_conn_id", storage_conn_id), ("volume_name", volume_name)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if HAS_TASK_STATE_STORE:  # below 3.3 the stand-in mixins have no store to keep the id in
            kwargs["durable"] = durable
        super().__init__(**kwargs)
        self.reattach = durable
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
        self.emit_asset = emit_asset
        self.auto_commit = auto_commit
        self.storage_conn_id = storage_conn_id
        self.volume_name = volume_name
        if emit_asset:
            self.outlets = [*self.outlets, import_alias(self)]
        self.final_state: BulkInsertState | None = None
        self.job_id: str | None = None
        # Checked at parse time, so a DAG with a bad setting fails to load with a clear message.
        WaitSettings(poll_interval, None, max_attempts, stall_timeout, on_stall)

    @cached_property
    def hook(self) -> MilvusImportHook:
        """The hook of this task's connection."""
        return MilvusImportHook(self.milvus_conn_id)

    def _db(self) -> str | None:
        return _text(self.db_name) or None

    def _volume(self) -> str | None:
        return None if self.volume_name is None else str(_text(self.volume_name))

    # -- execute: start (or find the earlier try's job), then wait -------------------------------

    def execute(self, context: Any) -> Any:
        """Start the import (or reattach on a retry), push ``job_id``, then wait (deferred, or here)."""
        self._start_over_after_clear(context)
        if not self.wait_for_completion:
            self.submit_job(context)
            return None
        return self.execute_resumable(context)

    def _start_over_after_clear(self, context: Any) -> None:
        """Clearing starts over: the first try after a clear forgets the job id earlier tries stored."""
        store = context.get("task_state_store")
        if store is None or not self._first_try(context) or not store.get(self.external_id_key):
            return
        self.log.info("First try since the task was cleared or scheduled: a new import, not the stored job")
        store.delete(self.external_id_key)

    def _first_try(self, context: Any) -> bool:
        ti = context["ti"]
        try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
        if not isinstance(try_number, int) or not isinstance(max_tries, int):
            return True
        return first_try_of_generation(try_number, max_tries, int(self.retries or 0))

    def submit_job(self, context: Any) -> str:
        """Start the import; on a retry, first find the job an earlier try started (it left no id).

        Every ``create`` carries the import's idempotency key. A retry on a server that honours keys
        sends ``create`` again with the same key, so the server answers the earlier try's job (the one
        whose answer was lost, too) instead of starting another; elsewhere it searches the server's jobs.
        """
        identity, place = import_identity(context, self)
        extras = self._cloud_extras()  # refused here, before any request, where the connection cannot take them
        if not self.reattach or self._first_try(context):
            # durable=False: each try is its own import, so each try has its own key.
            job_id = self._create(identity.key(1 if self.reattach else place), extras)
        elif self.hook.honours_idempotency_keys():
            job_id = self._create_again(identity, place, extras)
        else:
            earlier = self._earlier_job(context)
            if earlier is not None and not earlier.failed:
                job_id, self.final_state = earlier.task_id, earlier
                self.log.info("Reattaching to import job %s an earlier try started (%s)", job_id, earlier.state_name)
            else:  # the key too: a server that hides its version may still honour it
                job_id = self._create_again(identity, place, extras)
        self._accepted(context, job_id)
        return job_id

    def _create(self, key: str, extras: dict[str, Any]) -> str:
        """One ``create`` with ``key``."""
        # With render_template_as_native_obj a name like "2024" renders as a number: names are text.
        return self.hook.start_import(
            _text(self.collection_name),
            self.files,
            _text(self.partition_name),
            self._db(),
            self._options(),
            idempotency_key=key,
            **extras,
        )

    def _create_again(self, identity: ImportIdentity, place: int, extras: dict[str, Any]) -> str:
        """The earlier try's job, by sending its key again (a server honouring keys answers it); anew after a failure.

        Key n belongs to the import started after n - 1 imports of this generation failed; try ``place``
        can have seen at most ``place`` of them, so the walk ends there. A server that ignores keys starts
        a job at the first ``create``, which has not failed yet: one import.
        """
        for link in range(1, place + 1):
            key = identity.key(link)
            job_id = self._create(key, extras)
            state = self.hook.get_import_state(job_id, self._db())
            if not state.failed or link == place:
                break
            self.log.info("Import job %s of an earlier try failed (%s): starting a new import", job_id, state.summary())
        if not state.failed:
            self.final_state = state
            self.log.info("Import job %s is the one of idempotency key %s (%s)", job_id, key, state.state_name)
        return job_id

    def _cloud_extras(self) -> dict[str, Any]:
        """The bucket keys or volume of a Zilliz Cloud import, checked before any request is sent."""
        if self.storage_conn_id is None and self.volume_name is None:
            return {}
        protocol = self.hook.get_settings().protocol  # the connection's word: no request is made
        if protocol != "cloud":
            what = "storage_conn_id" if self.storage_conn_id is not None else "volume_name"
            raise AirflowFailException(
                f"{self.task_id}: {what} needs a Zilliz Cloud connection, but connection {self.milvus_conn_id!r} "
                f"has protocol {protocol!r} (set protocol 'cloud'); nothing was imported"
            )
        if self.volume_name is not None:
            return {"volume_name": self._volume()}
        try:
            return {"credentials": bucket_credentials(str(self.storage_conn_id))}
        except MilvusImportConfigError as error:
            raise AirflowFailException(f"{self.task_id}: {error}; nothing was imported") from None

    def _earlier_job(self, context: Any) -> BulkInsertState | None:
        """The newest job of this same import since the run started, found on the server."""
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
        since = started.timestamp() if started is not None else time.time() - 86400
        db = self._db()
        found = find_earlier_job(
            self.hook.list_import_states(_text(self.collection_name), db),
            lambda job_id: self.hook.get_import_state(job_id, db),
            collection_name=_text(self.collection_name),
            partition_name=_text(self.partition_name),
            files=self.files,
            since=since,
        )
        if found is not None:
            self.log.info("An earlier try started import job %s: %s", found.task_id, found.summary())
        return found

    def _accepted(self, context: Any, job_id: str) -> None:
        """Remember the job and push its id under ``job_id`` (again on a retry: each try starts without XCom)."""
        self.job_id = job_id
        context["ti"].xcom_push(key="job_id", value=job_id)

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

    # -- ResumableJobMixin ------------------------------------------------------------------------

    def get_job_status(self, external_id: Any, context: Any) -> str:
        """The stored job's state name, read from the server (an unreadable job fails this try clearly)."""
        job_id = str(external_id)
        try:
            state = self.hook.get_import_state(job_id, self._db())
        except MilvusImportError as error:
            raise AirflowException(
                f"Cannot read import job {job_id} that an earlier try started, so this try does not "
                f"import again: {error}. Clear the task to start a new import."
            ) from None
        self.log.info("Import job %s of an earlier try: %s", job_id, state.summary())
        self.final_state = state
        if not state.failed:
            self._accepted(context, job_id)
        return state.state_name

    def is_job_active(self, status: str) -> bool:
        """Pending, Started, Persisted, Flushed, Unknown: the job may still land, so wait for it."""
        return status not in ("Completed", "Failed", "FailedAndCleaned")

    def is_job_succeeded(self, status: str) -> bool:
        """Only Completed."""
        return status == "Completed"

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        """Wait for the job: defer to the trigger, or poll here when not deferrable; raise unless it completed."""
        job_id = str(external_id)
        known = self.final_state
        if known is not None and known.task_id == job_id and known.is_terminal:  # an earlier try's job ended
            return self._finish(context, outcome_of(known))
        end_time = time.time() + self.timeout if self.timeout else None
        if self.deferrable:
            if RETRY_KEEPS_RESUME_POINT:
                context["ti"].xcom_push(key=DEFERRED_TRY_KEY, value=context["ti"].try_number)
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
                    db_name=self._db(),
                    abort_on_kill=True,
                    staged_is_done=not self.auto_commit,
                ),
                method_name="execute_complete",
            )
        settings = WaitSettings(
            self.poll_interval, end_time, self.max_attempts, self.stall_timeout, self.on_stall, not self.auto_commit
        )
        event = wait_sync(
            wait_for_job(job_id, settings, self.log), lambda: self.hook.get_import_state(job_id, self._db())
        )
        return self._finish(context, read_event(event, job_id, accept_staged=not self.auto_commit))

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        """The final state's dict (the ``return_value``); a completed job of an earlier try ends here."""
        job_id = str(external_id)
        state = self.final_state
        staged_is_done = not self.auto_commit
        if state is None or state.task_id != job_id or not (state.is_terminal or (staged_is_done and state.staged)):
            state = self.hook.get_import_state(job_id, self._db())
        return self._finish(context, outcome_of(state, accept_staged=staged_is_done))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: succeed only on a Completed state, push the state in every case.

        Idempotent: the same event twice gives the same outcome, XCom and asset event. A retry that Airflow
        3.0 resumes with the failed try's event starts over instead (reattach, or import anew after a failure).
        """
        if RETRY_KEEPS_RESUME_POINT and self._resumes_an_earlier_try(context):
            self.log.info("This try was resumed with an earlier try's event (Airflow 3.0 keeps it): starting over")
            return self.execute(context)
        outcome = read_event(event, accept_staged=not self.auto_commit)
        self.log.info("Import job %s: %s (%s)", outcome.job_id, outcome.status, outcome.message)
        return self._finish(context, outcome)

    def _resumes_an_earlier_try(self, context: Any) -> bool:
        """True when the try that deferred (its number kept in XCom) is not this one."""
        ti = context["ti"]
        deferred = ti.xcom_pull(task_ids=self.task_id, key=DEFERRED_TRY_KEY, map_indexes=ti.map_index)
        return isinstance(deferred, int) and deferred != ti.try_number

    def _finish(self, context: Any, outcome: ImportOutcome) -> Any:
        """Record the final state (lineage reads it), emit the asset event on success, push and end."""
        self.job_id = outcome.job_id or self.job_id
        if outcome.state is not None:
            self.final_state = outcome.state
        # A staged (Uncommitted) job is no data event yet: only a Completed import emits one.
        if outcome.succeeded and self.emit_asset and outcome.state is not None and outcome.state.succeeded:
            emit_for_state(
                context, self, self.hook.get_settings, outcome.state, self._db(), _text(self.collection_name)
            )
        return complete(context, outcome)

    # -- assets, lineage, kill --------------------------------------------------------------------

    def asset_uri(self, collection_name: str | None = None) -> str:
        """The asset URI of the target collection on this task's connection."""
        return collection_uri(self.hook.get_settings(), collection_name or _text(self.collection_name), self._db())

    def get_openlineage_facets_on_start(self) -> Any:
        """Lineage before the import: the files as inputs, the collection as output."""
        from airflow_provider_milvus.openlineage import import_lineage

        return import_lineage(self.files, self.asset_uri(), None, volume_name=self._volume())

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage after the import: as on start, plus the job id and the collection's imported rows."""
        from airflow_provider_milvus.openlineage import import_lineage

        server = self.hook.get_settings().server
        return import_lineage(self.files, self.asset_uri(), self.final_state, server, self._volume())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Lineage of a failed import: inputs and output, the job id where one was read."""
        return self.get_openlineage_facets_on_complete(task_instance)

    def on_kill(self) -> None:
        """Killed while waiting in the worker: abort the job where the server can, else say it runs on."""
        if self.job_id:
            abort_or_explain(self.hook, self.job_id, self._db(), self.log)


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
