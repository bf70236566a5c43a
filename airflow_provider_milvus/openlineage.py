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


def volume_dataset_name(volume_name: str, path: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a data path in a Zilliz Cloud volume: ``zilliz-volume://VOLUME`` + path."""
    return f"zilliz-volume://{volume_name}", path.lstrip("/") or "/"


def import_lineage(
    files: Any,
    collection_uri: str | None,
    state: BulkInsertState | None,
    server: str = "",
    volume_name: str | None = None,
) -> Any:
    """``OperatorLineage`` of an import: files (or a volume's data paths) in, the collection out.

    The collection carries its row count once the import completed. Bucket keys never appear here.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        ExternalQueryRunFacet,
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    paths = sorted(import_files(state.files if state is not None and state.files else files))
    names = [volume_dataset_name(volume_name, p) for p in paths] if volume_name else map(file_dataset_name, paths)
    inputs = [InputDataset(namespace=ns, name=name) for ns, name in names]
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
