"""Apache Airflow provider for Milvus and Zilliz Cloud bulk imports."""

from __future__ import annotations

from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.state import BulkInsertState

__version__ = "0.1.0"

__all__ = ["BulkInsertState", "MilvusImportError", "__version__"]
