"""Arguments of the import calls, checked once for every API before anything is sent. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.protocol.errors import sanitize

INT64_MAX: Final = 2**63 - 1


def check_numeric_job_id(job_id: Any, api: str) -> str:
    """A Milvus job id (an int64) as its canonical decimal string, or a config error."""
    if not isinstance(job_id, (str, int)) or isinstance(job_id, bool):
        raise exc.MilvusImportConfigError(f"job id must be a string, got {type(job_id).__name__}")
    text = str(job_id).strip()
    if not text:
        raise exc.MilvusImportConfigError("job id is empty")
    if not (text.isascii() and text.isdigit()) or int(text) > INT64_MAX:
        raise exc.MilvusImportConfigError(
            f"job id {sanitize(text, 60)!r} is not a Milvus job id: {api} ids are integers "
            "(Zilliz Cloud 'job-...' ids need the connection protocol 'cloud')"
        )
    return str(int(text))


def normalize_files(files: Any) -> list[list[str]]:
    """``files`` as a list of import units (lists of paths), checked; one flat list is one unit."""
    if isinstance(files, str) or not isinstance(files, Sequence) or not files:
        raise exc.MilvusImportConfigError("files must be a non-empty list of paths, or a list of such lists")
    if all(isinstance(f, str) for f in files):
        units = [list(files)]
    elif all(isinstance(f, Sequence) and not isinstance(f, str) for f in files):
        units = [list(f) for f in files]
    else:
        raise exc.MilvusImportConfigError("files must be a list of paths, or a list of lists of paths, not a mix")
    for unit in units:
        if not unit or not all(isinstance(p, str) and p.strip() for p in unit):
            raise exc.MilvusImportConfigError(
                "every import unit in files must be a non-empty list of non-empty path strings"
            )
    return units


def normalize_options(options: Any) -> dict[str, str]:
    """Import options as a dict of strings, or a config error naming the bad key."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise exc.MilvusImportConfigError(f"options must be a dict of strings, got {type(options).__name__}")
    for key, value in options.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise exc.MilvusImportConfigError(
                f"options must be a dict of strings: {key!r} has a {type(value).__name__} value"
            )
    return dict(options)


def check_name(value: Any, field: str, *, required: bool) -> str:
    """A collection / partition / database name as a clean string."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise exc.MilvusImportConfigError(f"{field} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise exc.MilvusImportConfigError(f"{field} is required")
    return value.strip()


@dataclass(frozen=True)
class ImportArgs:
    """The checked arguments of one ``start_import``: units of files, names and string options."""

    collection_name: str
    units: list[list[str]]
    partition_name: str
    db_name: str
    options: dict[str, str]

    @classmethod
    def check(
        cls,
        collection_name: Any,
        files: Any,
        partition_name: Any = None,
        db_name: Any = None,
        options: Any = None,
        *,
        default_db: str = "",
    ) -> ImportArgs:
        """Check everything a DAG author passes, naming what is wrong."""
        return cls(
            collection_name=check_name(collection_name, "collection_name", required=True),
            units=normalize_files(files),
            partition_name=check_name(partition_name, "partition_name", required=False),
            db_name=check_name(db_name, "db_name", required=False) or default_db,
            options=normalize_options(options),
        )
