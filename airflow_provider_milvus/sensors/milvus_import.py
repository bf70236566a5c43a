"""MilvusImportSensor: gates downstream tasks on one Milvus bulk import job."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, BaseSensorOperator, PokeReturnValue

from airflow_provider_milvus.assets import emit_for_state, import_alias
from airflow_provider_milvus.completion import complete
from airflow_provider_milvus.config import default_deferrable
from airflow_provider_milvus.events import ImportOutcome, outcome_of, read_event
from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.in_trigger import END_EVENT_STATES, check_end_from_trigger, check_start_from_trigger
from airflow_provider_milvus.state import BulkInsertState
from airflow_provider_milvus.triggers.milvus_import import MilvusImportTrigger
from airflow_provider_milvus.waiting import WaitSettings, staged_message


class MilvusImportSensor(BaseSensorOperator):
    """Waits for a Milvus / Zilliz Cloud import job to complete; fails with the server's reason if it fails.

    Deferrable by default: the wait runs in the triggerer and holds no worker slot.
    With ``deferrable=False`` it is a classic sensor (``mode="poke"`` or ``"reschedule"``).
    The final state is pushed as ``return_value`` in every outcome where one was read.

    :param job_id: the import job id (templated).
    :param milvus_conn_id: the ``milvus`` connection.
    :param deferrable: wait in the triggerer (default True, see ``config.default_deferrable``).
    :param max_attempts: consecutive failed reads (network faults, 5xx) before the wait gives up.
    :param stall_timeout: seconds without any change of state, progress or rows before a stall is reported.
    :param on_stall: ``warn`` (log, keep waiting) or ``fail`` (end the wait as timed out).
    :param db_name: the job's database when not the connection's (templated).
    :param emit_asset: emit an asset event for the job's collection once it saw the job complete.
    :param start_from_trigger: begin the wait in the triggerer, with no worker start to begin it (only
        ``execute_complete`` runs on a worker). The job id must be known when the DAG is parsed, or be a
        template on Airflow 3.3+ (rendered in the triggerer); ``timeout`` is then Airflow's trigger timeout.
        Not for mapped tasks (their arguments are known only at run time). Refused on Airflow 3.1 and 3.2,
        whose scheduler would start the task on a worker anyway.
    :param end_from_trigger: end the task in the triggerer, with no worker to resume it: success with the
        final state as ``return_value``, failed with the server's reason in the task log (and the state
        in XCom once no retry is left), skipped with ``soft_fail``. With ``start_from_trigger`` no worker
        runs at all (a timeout alone is ended by a worker, as Airflow does for every deferred task).
        Refused, with the reason, where it cannot work right: listeners registered (OpenLineage's),
        ``emit_asset=True``, or ``retries`` on Airflow before 3.3.1.
    """

    template_fields: Sequence[str] = ("job_id", "milvus_conn_id", "db_name")
    ui_color = "#4fc3f7"

    def __init__(
        self,
        *,
        job_id: str,
        milvus_conn_id: str = MilvusImportHook.default_conn_name,
        deferrable: bool | None = None,
        max_attempts: int = 10,
        stall_timeout: float | None = None,
        on_stall: str = "warn",
        db_name: str | None = None,
        emit_asset: bool = False,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.emit_asset = emit_asset
        if emit_asset:
            self.outlets = [*self.outlets, import_alias(self)]
        # Checked at parse time, so a DAG with a bad setting fails to load with a clear message.
        WaitSettings(float(self.poke_interval), None, max_attempts, stall_timeout, on_stall)
        self.job_id = job_id
        self.milvus_conn_id = milvus_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_attempts = max_attempts
        self.stall_timeout = stall_timeout
        self.on_stall = on_stall
        self.db_name = db_name
        self.end_from_trigger = end_from_trigger
        if end_from_trigger:
            check_end_from_trigger(
                self.task_id, deferrable=self.deferrable, retries=int(self.retries or 0), emit_asset=emit_asset
            )
        if start_from_trigger:
            self._start_in_triggerer()

    @property
    def _skips_on_failure(self) -> bool:
        """``soft_fail`` (or ``never_fail`` where Airflow has it): a failed wait skips the task."""
        return bool(self.soft_fail or getattr(self, "never_fail", False))

    def _start_in_triggerer(self) -> None:
        """Let the scheduler defer this task straight to the trigger (``start_from_trigger``)."""
        from airflow.triggers.base import StartTriggerArgs

        templated = [name for name in self.template_fields if "{{" in str(getattr(self, name) or "")]
        check_start_from_trigger(self.task_id, templated)
        if not self.deferrable:
            raise ValueError(f"{self.task_id}: start_from_trigger waits in the triggerer; it needs deferrable=True")
        self.start_from_trigger = True
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{MilvusImportTrigger.__module__}.{MilvusImportTrigger.__qualname__}",
            trigger_kwargs={
                "job_id": self.job_id,
                "milvus_conn_id": self.milvus_conn_id,
                "poll_interval": float(self.poke_interval),
                "max_attempts": self.max_attempts,
                "stall_timeout": self.stall_timeout,
                "on_stall": self.on_stall,
                "db_name": self.db_name,
                "end_from_trigger": self.end_from_trigger,
                "soft_fail": self._skips_on_failure,
            },
            next_method="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    @cached_property
    def hook(self) -> MilvusImportHook:
        """The hook of this task's connection."""
        return MilvusImportHook(self.milvus_conn_id)

    def _checked_job_id(self) -> str:
        job_id = str(self.job_id).strip() if self.job_id is not None else ""
        if not job_id or job_id == "None":
            raise AirflowException(f"{self.task_id}: job_id is empty (check the template or XCom it comes from)")
        return job_id

    def _db(self) -> str | None:
        return str(self.db_name) if self.db_name not in (None, "") else None

    def execute(self, context: Any) -> Any:
        """Read the job once; finish at once if it already ended, else defer (or poke when not deferrable)."""
        if not self.deferrable:
            return super().execute(context)
        job_id = self._checked_job_id()
        try:
            state = self.hook.get_import_state(job_id, self._db())
        except MilvusImportError as error:
            if not error.retryable:
                raise AirflowException(str(error)) from None
            self.log.warning("First read of import job %s failed, the trigger will retry: %s", job_id, error)
        else:
            self._log_state(state)
            if state.is_terminal:
                return self._complete(context, outcome_of(state))
        self.defer(
            trigger=MilvusImportTrigger(
                job_id=job_id,
                milvus_conn_id=self.milvus_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                protocol=self.hook.protocol,
                max_attempts=self.max_attempts,
                stall_timeout=self.stall_timeout,
                on_stall=self.on_stall,
                db_name=self._db(),
                end_from_trigger=self.end_from_trigger,
                soft_fail=self._skips_on_failure,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 2 * self.poke_interval + 60),
        )

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """One read (poke and reschedule modes); faults worth retrying just mean 'not yet'."""
        job_id = self._checked_job_id()
        try:
            state = self.hook.get_import_state(job_id, self._db())
        except MilvusImportError as error:
            if error.retryable:
                self.log.warning("Reading import job %s failed, will try again: %s", job_id, error)
                return False
            raise AirflowException(str(error)) from None
        self._log_state(state)
        if not state.is_terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._complete(context, outcome_of(state)))

    def _log_state(self, state: BulkInsertState) -> None:
        """The state read, and for a staged two-phase import that the sensor waits for its commit."""
        self.log.info("%s", state.summary())
        if state.staged:
            self.log.info("%s", staged_message(state.task_id))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: succeed only on a Completed state, push the state in every case.

        ``dag.test()`` runs an ``end_from_trigger`` wait's end event on the worker, resuming the task with
        only the state it names: the job is then read once more and the task ends on what it says.
        """
        if self.end_from_trigger and isinstance(event, str) and event in END_EVENT_STATES:
            state = self.hook.get_import_state(self._checked_job_id(), self._db())
            self._log_state(state)
            return self._complete(context, outcome_of(state))
        outcome = read_event(event, str(self.job_id))
        self.log.info("Import job %s: %s (%s)", outcome.job_id, outcome.status, outcome.message)
        return self._complete(context, outcome)

    def _complete(self, context: Any, outcome: ImportOutcome) -> Any:
        """End on the outcome; a completed job first gets its collection's asset event (``emit_asset``)."""
        if self.emit_asset and outcome.succeeded and outcome.state is not None:
            emit_for_state(context, self, self.hook.get_settings, outcome.state, self._db())
        return complete(context, outcome, soft_fail=self.soft_fail, sensor=True)
