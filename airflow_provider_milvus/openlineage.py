"""OpenLineage for imports: the files read (file or object store) and the collection written.

Imported only from the operator's ``get_openlineage_facets_*`` methods, which the OpenLineage
provider calls when it is installed (extra ``openlineage``); without it nothing here runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow_provider_milvus.assets import dataset_of_uri
from airflow_provider_milvus.resume import import_files
from airflow_provider_milvus.state import BulkInsertState


def file_dataset_name(path: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of an import file: ``s3://bucket`` + key, or ``file`` + local path."""
    split = urlsplit(path)
    if split.scheme in ("", "file") or len(split.scheme) == 1:  # a local path (or a Windows drive letter)
        return "file", split.path if split.scheme == "file" else path
    return f"{split.scheme}://{split.netloc}", split.path.lstrip("/") or "/"


def import_lineage(files: Any, collection_uri: str | None, state: BulkInsertState | None, server: str = "") -> Any:
    """``OperatorLineage`` of an import: files in, the collection out (with its row count once completed)."""
    from airflow.providers.common.compat.openlineage.facet import (
        ExternalQueryRunFacet,
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    paths = sorted(import_files(state.files if state is not None and state.files else files))
    inputs = [InputDataset(namespace=ns, name=name) for ns, name in map(file_dataset_name, paths)]
    outputs = []
    if collection_uri:
        output = dataset_of_uri(collection_uri, OutputDataset)
        if state is not None and state.succeeded:
            output.outputFacets = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=state.row_count)}
        outputs.append(output)
    run_facets: dict[str, Any] = {}
    if state is not None:
        run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=state.task_id, source=server)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)
