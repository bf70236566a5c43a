"""A plain ``@task`` DAG under ``dag.test()``: proves a leg's Airflow runs a task at all, before the provider.

Run by scripts/matrix.py in each leg's venv (``python tests/matrix/plain_dag/plain_task.py``) with a
fresh AIRFLOW_HOME; it migrates the metadata database first. Exit 0 only if the task ran and its XCom
holds 42. The DAG is at module level and this folder is the DAGs folder: Airflow 3.1+ parses it from there
to serialize it for dag.test().
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent)

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

with DAG("matrix_plain_task", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

    @task
    def answer() -> int:
        """Return a known value, read back from XCom."""
        return 42

    answer()


def main() -> int:
    """Migrate the database, run the plain task with dag.test(), check its state and return value."""
    airflow = Path(sys.executable).with_name("airflow")
    migrate = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300)
    if migrate.returncode != 0:
        print(migrate.stdout[-3000:], migrate.stderr[-3000:], sep="\n")
        print("plain task: `airflow db migrate` failed")
        return 1
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    value = run.get_task_instance("answer").xcom_pull(task_ids="answer")
    airflow_version = os.environ.get("MATRIX_AIRFLOW", "?")
    print(f"plain task on Airflow {airflow_version}: run {run.state}, tasks {states}, xcom {value}")
    return 0 if str(run.state) == "success" and states == {"answer": "success"} and value == 42 else 1


if __name__ == "__main__":
    sys.exit(main())
