"""Collections and bulk-import files (row JSON, NumPy, deliberately bad files) for real-Milvus tests."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, utility

DIM = 8
PK_FIELD = "id"
VECTOR_FIELD = "vec"
EXTRA_FIELD = "tag"

__all__ = [
    "DIM",
    "EXTRA_FIELD",
    "PK_FIELD",
    "VECTOR_FIELD",
    "create_import_collection",
    "drop_collection",
    "make_rows",
    "unique_collection_name",
    "write_malformed_json",
    "write_numpy_files",
    "write_row_json",
    "write_unknown_field_json",
    "write_wrong_dim_json",
]


def unique_collection_name(prefix: str = "import_test") -> str:
    """Return a collection name that is unique for this test run."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def create_import_collection(
    alias: str,
    name: str | None = None,
    *,
    dim: int = DIM,
    extra_field: bool = False,
    timeout: float = 30.0,
) -> Collection:
    """Create a collection ``id`` INT64 primary key (not auto-id), ``vec`` FLOAT_VECTOR(dim)[, ``tag`` INT64]."""
    fields = [
        FieldSchema(PK_FIELD, DataType.INT64, is_primary=True, auto_id=False),
        FieldSchema(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dim),
    ]
    if extra_field:
        fields.append(FieldSchema(EXTRA_FIELD, DataType.INT64))
    schema = CollectionSchema(fields, description="bulk import test collection")
    return Collection(name or unique_collection_name(), schema, using=alias, timeout=timeout)


def drop_collection(alias: str, name: str, *, timeout: float = 30.0) -> None:
    """Drop the collection if it exists."""
    if utility.has_collection(name, using=alias, timeout=timeout):
        utility.drop_collection(name, using=alias, timeout=timeout)


def make_rows(
    count: int, *, start: int = 0, dim: int = DIM, extra_field: bool = False, seed: int = 0
) -> list[dict[str, Any]]:
    """Return ``count`` rows with ids ``start..start+count-1`` and random float vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.random((count, dim), dtype=np.float32)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        row: dict[str, Any] = {PK_FIELD: start + i, VECTOR_FIELD: [float(x) for x in vectors[i]]}
        if extra_field:
            row[EXTRA_FIELD] = (start + i) % 10
        rows.append(row)
    return rows


def _absolute(path: str | os.PathLike[str]) -> Path:
    """Return an absolute path and create its parent directory (the server needs absolute paths)."""
    result = Path(path).resolve()
    result.parent.mkdir(parents=True, exist_ok=True)
    return result


def write_row_json(
    path: str | os.PathLike[str],
    count: int = 1000,
    *,
    start: int = 0,
    dim: int = DIM,
    extra_field: bool = False,
    rows: list[dict[str, Any]] | None = None,
) -> str:
    """Write a row-based JSON import file ``{"rows": [...]}``; return its absolute path."""
    target = _absolute(path)
    data = rows if rows is not None else make_rows(count, start=start, dim=dim, extra_field=extra_field)
    target.write_text(json.dumps({"rows": data}), encoding="utf-8")
    return str(target)


def write_numpy_files(
    directory: str | os.PathLike[str],
    count: int = 1000,
    *,
    start: int = 0,
    dim: int = DIM,
    extra_field: bool = False,
    seed: int = 0,
) -> list[str]:
    """Write one ``.npy`` per field (``id.npy``, ``vec.npy``[, ``tag.npy``]); return absolute paths."""
    folder = Path(directory).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {
        PK_FIELD: np.arange(start, start + count, dtype=np.int64),
        VECTOR_FIELD: rng.random((count, dim), dtype=np.float32),
    }
    if extra_field:
        arrays[EXTRA_FIELD] = np.arange(start, start + count, dtype=np.int64) % 10
    paths: list[str] = []
    for field, array in arrays.items():
        target = folder / f"{field}.npy"
        np.save(target, array)
        paths.append(str(target))
    return paths


def write_unknown_field_json(path: str | os.PathLike[str], count: int = 10) -> str:
    """Write row JSON whose rows carry an extra field ``wrong`` not in the schema."""
    rows = make_rows(count)
    for row in rows:
        row["wrong"] = 1
    return write_row_json(path, rows=rows)


def write_wrong_dim_json(path: str | os.PathLike[str], count: int = 10, *, dim: int = 4) -> str:
    """Write row JSON whose vectors have dimension ``dim`` (4) instead of the schema's 8."""
    return write_row_json(path, rows=make_rows(count, dim=dim))


def write_malformed_json(path: str | os.PathLike[str]) -> str:
    """Write a truncated JSON document (parse error on the server)."""
    target = _absolute(path)
    target.write_text('{"rows": [{"id": 1, "vec": [0.1, 0.2', encoding="utf-8")
    return str(target)
