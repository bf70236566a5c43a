"""Loading the trigger's class is cheap: the clients (grpc, protobuf, requests) load in a thread on first run()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook
from airflow_provider_milvus.triggers import milvus_import as trigger_module

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("grpc", "google.protobuf", "requests", "airflow_provider_milvus.client", "airflow_provider_milvus.hooks")


def test_importing_the_trigger_module_leaves_the_clients_unloaded() -> None:
    code = (
        "import json, sys; import airflow.jobs.triggerer_job_runner; before = set(sys.modules)\n"
        "try:\n from airflow._shared.module_loading import import_string\n"  # the triggerer's own (3.2+)
        "except ImportError:\n from airflow.utils.module_loading import import_string\n"
        f"import_string({trigger_module.MilvusImportTrigger.__module__ + '.MilvusImportTrigger'!r})\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "airflow_provider_milvus.triggers.milvus_import" in loaded
    heavy = [m for m in loaded if m.startswith(HEAVY)]
    assert not heavy, f"importing the trigger's class loaded {heavy} in the triggerer's event loop"


async def test_the_clients_load_in_a_thread_on_first_use() -> None:
    hooks, coalesce = await trigger_module.load_client_modules()
    assert hooks.MilvusImportHook is MilvusImportHook
    assert callable(coalesce.shared_poller)


def test_default_connection_matches_the_hook() -> None:
    assert MilvusImportHook.default_conn_name == trigger_module.DEFAULT_CONN_NAME
