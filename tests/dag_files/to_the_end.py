"""Test DAGs run to the end with ``dag.test()`` (tests/operators, tests/sensors): what users write.

- ``to_the_end_import``: ``MilvusImportOperator`` with its defaults (deferred, ``emit_asset`` on).
- ``to_the_end_import_retries``: the same with ``retries=1``; before a retry, ``pre_execute`` copies
  ``params.source`` to the import file when there is one (so try 1's job fails, try 2's lands).
- ``to_the_end_sensor``: ``MilvusImportSensor(emit_asset=True)`` on the job ``params.job_id``.

Trigger with ``run_conf={"collection_name": ..., "files": [...], "source": ..., "job_id": ...}``.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.sensors.milvus_import import MilvusImportSensor

PARAMS = {
    "collection_name": Param("c", type="string"),
    "files": Param(["/x.json"], type="array"),
    "source": Param("", type="string"),
    "job_id": Param("", type="string"),
}


def _file_on_retry(context: Any) -> None:
    """From try 2 on, put ``params.source`` in place as the (single) import file."""
    source, (target, *_) = context["params"]["source"], context["params"]["files"]
    if source and context["ti"].try_number > 1 and not Path(target).exists():
        shutil.copyfile(source, target)


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        params=PARAMS,
        render_template_as_native_obj=True,  # params.files renders as a list
    )


with _dag("to_the_end_import"):
    MilvusImportOperator(
        task_id="load", collection_name="{{ params.collection_name }}", files="{{ params.files }}", poll_interval=0.5
    )

with _dag("to_the_end_import_retries"):
    MilvusImportOperator(
        task_id="load",
        collection_name="{{ params.collection_name }}",
        files="{{ params.files }}",
        poll_interval=0.5,
        retries=1,
        retry_delay=timedelta(0),
        pre_execute=_file_on_retry,
    )

with _dag("to_the_end_sensor"):
    MilvusImportSensor(task_id="wait", job_id="{{ params.job_id }}", emit_asset=True, poke_interval=0.5)
