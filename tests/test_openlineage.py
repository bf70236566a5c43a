"""OpenLineage: a deferred import run with ``dag.test()`` and the OpenLineage provider's own listener,
its events written by OpenLineage's file transport and read back. Inputs are the import files (file
or object store as their URIs say), the output is the collection, with the row count on completion
(after the deferral). Without the OpenLineage provider the operator imports and runs unchanged.

Each run is a fresh Python process (a fresh AIRFLOW_HOME and Airflow's plugins loaded with the
transport configured), against the REST v2 emulator. The process runs outside the checkout with
``PYTHONSAFEPATH`` and no ``PYTHONPATH``, and must import the very provider this test process imports:
the installed wheel in a matrix leg, never the source beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_milvus
from airflow_provider_milvus.openlineage import file_dataset_name
from tests.emulator.server import ImportEmulator

FILES = [["/data/articles/1.parquet"], ["s3://bucket/articles/2.parquet"]]

PROVIDER_FILE = """
import airflow_provider_milvus
print("PROVIDER_FILE", airflow_provider_milvus.__file__)
"""

RUN_DAG = (
    PROVIDER_FILE
    + """
from airflow.sdk import DAG
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

with DAG("ol_import", schedule=None) as dag:
    MilvusImportOperator(task_id="load", collection_name="articles", files=FILES, poll_interval=0.2)

if __name__ == "__main__":
    print("RUN_STATE", dag.test().state)
"""
)

NO_OPENLINEAGE = (
    PROVIDER_FILE
    + """
import sys
from airflow_provider_milvus.events import make_event
from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator
from airflow_provider_milvus.state import BulkInsertState

done = BulkInsertState(task_id="7", state=6, progress=100, row_count=5, collection_name="c")
class TI:
    def xcom_push(self, key, value): pass
op = MilvusImportOperator(task_id="load", collection_name="c", files=["/a.json"])
assert op.execute_complete({"ti": TI()}, make_event("success", "7", done, "ok"))["row_count"] == 5
# Airflow's provider discovery reads every provider's get_provider_info; nothing else of OpenLineage loads.
loaded = [m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage."))]
assert loaded in ([], ["airflow.providers.openlineage.get_provider_info"]), loaded
print("UNCHANGED")
"""
)


def python(args: list[str], env: dict[str, str], timeout: float = 240) -> str:
    """Run Python in ``env`` outside the checkout; it must have imported the provider this process tests."""
    cwd = Path(env["AIRFLOW_HOME"]).parent
    result = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    imported = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("PROVIDER_FILE ")]
    assert imported and set(imported) == {airflow_provider_milvus.__file__}, f"imported {imported}, not the tested one"
    return result.stdout


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """No PYTHONPATH and PYTHONSAFEPATH: the checkout is never on the process's sys.path ahead of site-packages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env |= {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONSAFEPATH": "1"}
    return env | extra


@pytest.fixture
def lineage_events(tmp_path: Path, make_emulator: Callable[..., ImportEmulator]) -> tuple[list[dict[str, Any]], str]:
    """Run the deferred import with OpenLineage's file transport; return its events and the emulator's job id."""
    emulator = make_emulator(mode="rest", job_duration=2)
    log_file = tmp_path / "openlineage.jsonl"
    conn = {"conn_type": "milvus", "host": emulator.base_url, "extra": {"protocol": "rest"}}
    env = airflow_env(
        tmp_path / "home",
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(log_file), "append": True}),
        AIRFLOW__OPENLINEAGE__NAMESPACE="milvus-tests",
        AIRFLOW_CONN_MILVUS_DEFAULT=json.dumps(conn),
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    dag_file = tmp_path / "dags" / "ol_import.py"
    dag_file.parent.mkdir()
    dag_file.write_text(f"FILES = {FILES!r}\n{RUN_DAG}")
    out = python([str(dag_file)], env | {"AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent)})
    assert "RUN_STATE success" in out, out[-3000:]
    events = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    return [e for e in events if e.get("job", {}).get("name") == "ol_import.load"], emulator.job_ids[0]


def test_import_reports_files_in_and_the_collection_out(lineage_events: tuple[list[dict[str, Any]], str]) -> None:
    events, job_id = lineage_events
    by_type = {e["eventType"]: e for e in events}
    assert {"START", "COMPLETE"} <= set(by_type), [e["eventType"] for e in events]
    inputs = [(d["namespace"], d["name"]) for d in by_type["START"]["inputs"]]
    assert inputs == [("file", "/data/articles/1.parquet"), ("s3://bucket", "articles/2.parquet")]
    complete = by_type["COMPLETE"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == inputs
    (output,) = complete["outputs"]
    assert output["namespace"].startswith("milvus://127.0.0.1:") and output["name"] == "default.articles"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] > 0
    assert complete["run"]["facets"]["externalQuery"]["externalQueryId"] == job_id
    (start_output,) = by_type["START"]["outputs"]
    assert (start_output["namespace"], start_output["name"]) == (output["namespace"], output["name"])
    assert "outputStatistics" not in start_output.get("outputFacets", {})
    print("\nOpenLineage events captured:")
    for event in events:
        print(
            json.dumps(
                {k: event.get(k) for k in ("eventType", "inputs", "outputs")}
                | {"run_facets": sorted(event["run"]["facets"])}
            )
        )


def test_without_the_openlineage_provider_nothing_changes(tmp_path: Path) -> None:
    """The operator never imports OpenLineage itself: only the provider's listener calls its lineage methods."""
    assert "UNCHANGED" in python(["-c", NO_OPENLINEAGE], airflow_env(tmp_path / "home"))


@pytest.mark.parametrize(
    ("path", "dataset"),
    [
        ("/data/a.json", ("file", "/data/a.json")),
        ("file:///data/a.json", ("file", "/data/a.json")),
        ("s3://bucket/dir/a.parquet", ("s3://bucket", "dir/a.parquet")),
        ("gs://b/a.npy", ("gs://b", "a.npy")),
        ("https://host.example.com/x/a.json", ("https://host.example.com", "x/a.json")),
    ],
)
def test_file_datasets(path: str, dataset: tuple[str, str]) -> None:
    assert file_dataset_name(path) == dataset


def test_a_volume_import_names_the_volume_paths_as_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``volume_name``: the inputs are the volume's data paths; bucket keys (``storage_conn_id``) never show."""
    from airflow_provider_milvus.operators.milvus_import import MilvusImportOperator

    extra = {
        "protocol": "cloud",
        "cloud_endpoint": "https://api.example",
        "cloud_api_key": "k",
        "cloud_cluster_id": "in01",
    }
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ", json.dumps({"conn_type": "milvus", "extra": extra}))
    secret = "wJalr/secret+KEY0001"
    monkeypatch.setenv("AIRFLOW_CONN_BUCKET", json.dumps({"conn_type": "aws", "login": "AKIA1", "password": secret}))
    base = {"collection_name": "c", "milvus_conn_id": "zilliz"}
    volume = MilvusImportOperator(task_id="v", files=["parquet/1.parquet"], volume_name="my_volume", **base)
    lineage = volume.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("zilliz-volume://my_volume", "parquet/1.parquet")]
    keyed = MilvusImportOperator(task_id="k", files=["s3://bucket/a.parquet"], storage_conn_id="bucket", **base)
    facets = keyed.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in facets.inputs] == [("s3://bucket", "a.parquet")]
    assert secret not in repr(facets) and "AKIA1" not in repr(facets)
