"""Test-only DAGs for ``tests/e2e/test_retries_and_assets.py``: one fault in the first try of an import.

``FaultyImport`` is ``MilvusImportOperator`` with one fault injected into try 1 (test-only code, kept
here, out of the package); later tries run the operator unchanged:

- ``kill_after_start``: the task process SIGKILLs itself right after the server accepted the import
  (``start_import`` returned), before the job id is stored and before the deferral.
- ``wait_error``: the deferred wait reads through ``milvus_broken`` (a closed port) and gives up
  after ``max_attempts`` failed reads.
- ``wait_timeout``: the in-worker wait (``deferrable=False``) has a deadline that has already passed
  at its first read.
- ``fail_then_fix``: the file does not exist on try 1, so the job fails; try 2 puts the file in
  place (from ``source``) before its own start.
- ``cleared_while_deferred``: the deferred wait of try 1 reads through ``milvus_broken`` with no
  practical limit, so the task stays deferred until the test clears it.
- ``lost_answer``: the server starts try 1's import but its answer is lost (the call raises a
  connection error after the server accepted it): no job id reaches the task.
- ``lost_answer_keys``: the same, made by the server itself: the test has the emulated Milvus 2.6.24
  behind ``milvus_keys`` drop the answer of the first ``create`` (nothing in the DAG is faulty).

Trigger each DAG with ``{"collection_name": ..., "files": [...], "source": ...}``.
"""

from __future__ import annotations

import os
import shutil
import signal
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param

from airflow_provider_milvus.exceptions import MilvusImportConnectionError
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

CASES = (
    "kill_after_start",
    "wait_error",
    "wait_timeout",
    "fail_then_fix",
    "cleared_while_deferred",
    "lost_answer",
    "lost_answer_keys",
)


class FaultyImport(MilvusImportOperator):
    """``MilvusImportOperator`` with one fault in its first try."""

    template_fields = (*MilvusImportOperator.template_fields, "source")

    def __init__(self, *, fault: str, source: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fault = fault
        self.source = source

    def submit_job(self, context: Any) -> str:
        first = context["ti"].try_number == 1
        if self.fault == "fail_then_fix" and not first:
            shutil.copyfile(self.source, self.files[0])
        if self.fault == "lost_answer" and first:
            start = self.hook.start_import

            def answer_lost(*args: Any, **kwargs: Any) -> str:
                start(*args, **kwargs)  # the server starts the job...
                raise MilvusImportConnectionError("the answer was lost (test fault)", server="milvus")  # ...unheard

            self.hook.start_import = answer_lost  # type: ignore[method-assign]
        job_id = super().submit_job(context)
        if self.fault == "kill_after_start" and first:
            os.kill(os.getpid(), signal.SIGKILL)
        return job_id

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        if context["ti"].try_number == 1:
            if self.fault == "wait_error":
                self.milvus_conn_id, self.max_attempts = "milvus_broken", 2
            elif self.fault == "wait_timeout":
                self.timeout = 0.001
            elif self.fault == "cleared_while_deferred":
                self.milvus_conn_id, self.max_attempts = "milvus_broken", 1_000_000
        return super().poll_until_complete(external_id, context)


for case in CASES:
    with DAG(
        dag_id=f"retry_{case}",
        schedule=None,
        catchup=False,
        params={
            "collection_name": Param("c", type="string"),
            "files": Param(["/x.json"], type="array"),
            "source": Param("", type="string"),
        },
        render_template_as_native_obj=True,
    ):
        FaultyImport(
            task_id="import_rows",
            fault=case,
            source="{{ params.source }}",
            collection_name="{{ params.collection_name }}",
            files="{{ params.files }}",
            milvus_conn_id="milvus_keys" if case == "lost_answer_keys" else "milvus_default",
            deferrable=case != "wait_timeout",
            poll_interval=0.5,
            retries=2,
            retry_delay=timedelta(seconds=1),
        )
