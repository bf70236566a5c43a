"""The generated protobuf modules are current, wire-compatible with Milvus, and load on every declared protobuf."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import __version__ as protobuf_version
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from packaging.requirements import Requirement
from packaging.version import Version
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from airflow_provider_milvus.proto import milvus_import_pb2 as pb

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "airflow_provider_milvus" / "proto"
PB2_FILE = PROTO_DIR / "milvus_import_pb2.py"
PYI_FILE = PROTO_DIR / "milvus_import_pb2.pyi"
GENERATE_SCRIPT = REPO_ROOT / "scripts" / "generate_proto.py"
PROTOBUF_CACHE = REPO_ROOT / ".cache" / "test-protobuf"
PIP_TIMEOUT_S = 600
GENERATE_TIMEOUT_S = 1200  # a cold run builds the protoc venv (pip downloads); a warm one takes well under a second


# ---------------------------------------------------------------------------------------------------------------------
# The committed files are what the pinned generator produces.


def test_generated_code_is_current() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(GENERATE_SCRIPT), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=GENERATE_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, (
        f"scripts/generate_proto.py --check exited {proc.returncode} after {time.monotonic() - started:.1f}s\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def test_type_stub_describes_every_message() -> None:
    stub = PYI_FILE.read_text()
    for name in pb.DESCRIPTOR.message_types_by_name:
        assert f"class {name}(_message.Message):" in stub
    assert "class ImportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):" in stub


# ---------------------------------------------------------------------------------------------------------------------
# Round trips through the installed protobuf runtime.


def test_import_request_round_trip() -> None:
    request = pb.ImportRequest(
        collection_name="books",
        partition_name="p1",
        channel_names=["ch-0", "ch-1"],
        row_based=True,
        files=["a.parquet", "b.parquet"],
        options=[pb.KeyValuePair(key="timeout", value="300"), pb.KeyValuePair(key="backup", value="true")],
        db_name="library",
        clustering_info=b"\x00\x01\xff",
    )
    parsed = pb.ImportRequest.FromString(request.SerializeToString())
    assert parsed == request
    assert parsed.collection_name == "books"
    assert parsed.partition_name == "p1"
    assert list(parsed.channel_names) == ["ch-0", "ch-1"]
    assert parsed.row_based is True
    assert list(parsed.files) == ["a.parquet", "b.parquet"]
    assert [(o.key, o.value) for o in parsed.options] == [("timeout", "300"), ("backup", "true")]
    assert parsed.db_name == "library"
    assert parsed.clustering_info == b"\x00\x01\xff"


def _state_response(task_id: int = 449_000_000_000_000_001) -> pb.GetImportStateResponse:
    return pb.GetImportStateResponse(
        status=pb.Status(error_code=0, reason="", code=0, extra_info={"trace": "abc"}),
        state=pb.ImportFlushed,
        row_count=1_000_000,
        id_list=[1, 2, 2**62],
        infos=[pb.KeyValuePair(key="collection", value="books"), pb.KeyValuePair(key="progress_percent", value="100")],
        id=task_id,
        collection_id=449_000_000_000_000_777,
        segment_ids=[11, 12],
        create_ts=1_700_000_000,
    )


def test_get_import_state_response_round_trip() -> None:
    response = _state_response()
    parsed = pb.GetImportStateResponse.FromString(response.SerializeToString())
    assert parsed == response
    assert parsed.state == 8 == pb.ImportFlushed
    assert pb.ImportState.Name(parsed.state) == "ImportFlushed"
    assert parsed.row_count == 1_000_000
    assert list(parsed.id_list) == [1, 2, 2**62]
    assert {kv.key: kv.value for kv in parsed.infos} == {"collection": "books", "progress_percent": "100"}
    assert parsed.id == 449_000_000_000_000_001
    assert parsed.collection_id == 449_000_000_000_000_777
    assert list(parsed.segment_ids) == [11, 12]
    assert parsed.create_ts == 1_700_000_000
    assert dict(parsed.status.extra_info) == {"trace": "abc"}


def test_list_import_tasks_response_round_trip() -> None:
    response = pb.ListImportTasksResponse(
        status=pb.Status(),
        tasks=[_state_response(1), pb.GetImportStateResponse(id=2, state=pb.ImportFailed)],
    )
    parsed = pb.ListImportTasksResponse.FromString(response.SerializeToString())
    assert parsed == response
    assert [t.id for t in parsed.tasks] == [1, 2]
    assert [t.state for t in parsed.tasks] == [pb.ImportFlushed, pb.ImportFailed]
    assert parsed.tasks[0].infos[0].value == "books"
    request = pb.ListImportTasksRequest(collection_name="books", limit=10, db_name="library")
    assert pb.ListImportTasksRequest.FromString(request.SerializeToString()) == request


def test_status_round_trip() -> None:
    status = pb.Status(
        error_code=1,
        reason="collection not found",
        code=100,
        retriable=True,
        detail="collection books not found",
        extra_info={"k1": "v1", "k2": "v2"},
    )
    parsed = pb.Status.FromString(status.SerializeToString())
    assert parsed == status
    assert (parsed.error_code, parsed.reason, parsed.code, parsed.retriable) == (1, "collection not found", 100, True)
    assert parsed.detail == "collection books not found"
    assert dict(parsed.extra_info) == {"k1": "v1", "k2": "v2"}
    response = pb.ImportResponse(status=status, tasks=[7, 8])
    assert pb.ImportResponse.FromString(response.SerializeToString()) == response
    request = pb.GetImportStateRequest(task=7)
    assert pb.GetImportStateRequest.FromString(request.SerializeToString()).task == 7


# ---------------------------------------------------------------------------------------------------------------------
# Wire compatibility with Milvus: pymilvus's own generated classes (from milvus-proto) read what we write and back.


def _pymilvus_class(name: str) -> type:
    cls = getattr(milvus_pb2, name, None) or getattr(common_pb2, name)
    return cls


def _is_repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 5.x; `label` is gone in protobuf 7
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


_VARINT_32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_ENUM}  # same wire encoding


#: Fields milvus-proto added after the pymilvus used as a reference (below 3.1) was generated: spec section 6,
#: "milvus-proto added ImportRequest field 9 idempotency_key (string) in August 2026".
NEWER_THAN_REFERENCE = {("ImportRequest", 9, "idempotency_key")}


@pytest.mark.parametrize("name", sorted(pb.DESCRIPTOR.message_types_by_name))
def test_field_numbers_match_milvus_proto(name: str) -> None:
    ours: Descriptor = pb.DESCRIPTOR.message_types_by_name[name]
    theirs: Descriptor = _pymilvus_class(name).DESCRIPTOR
    for field in ours.fields:
        other = theirs.fields_by_number.get(field.number)
        if other is None and (name, field.number, field.name) in NEWER_THAN_REFERENCE:
            continue  # milvus-proto added it after the reference pymilvus was generated
        assert other is not None, f"{theirs.full_name} has no field number {field.number} ({field.name})"
        assert other.name == field.name, f"{name} field {field.number}: ours {field.name}, milvus {other.name}"
        assert _is_repeated(other) == _is_repeated(field), f"{name}.{field.name} repeated-ness differs"
        if field.type in _VARINT_32:
            assert other.type in _VARINT_32, f"{name}.{field.name}: milvus type {other.type}"
        else:
            assert other.type == field.type, f"{name}.{field.name}: ours type {field.type}, milvus {other.type}"
        if field.message_type is not None:
            assert other.message_type is not None
            assert other.message_type.name == field.message_type.name


def test_import_state_values_match_milvus_proto() -> None:
    ours = {v.name: v.number for v in pb.ImportState.DESCRIPTOR.values}
    theirs = {v.name: v.number for v in common_pb2.ImportState.DESCRIPTOR.values}
    assert ours == theirs


def test_get_import_state_response_wire_compatible_with_pymilvus() -> None:
    ours = _state_response()
    theirs = milvus_pb2.GetImportStateResponse.FromString(ours.SerializeToString())
    assert theirs.state == common_pb2.ImportFlushed == 8
    assert theirs.row_count == ours.row_count
    assert list(theirs.id_list) == list(ours.id_list)
    assert [(kv.key, kv.value) for kv in theirs.infos] == [(kv.key, kv.value) for kv in ours.infos]
    assert (theirs.id, theirs.collection_id, theirs.create_ts) == (ours.id, ours.collection_id, ours.create_ts)
    assert list(theirs.segment_ids) == [11, 12]
    assert dict(theirs.status.extra_info) == {"trace": "abc"}

    milvus_side = milvus_pb2.GetImportStateResponse(
        status=common_pb2.Status(error_code=common_pb2.UnexpectedError, reason="boom", code=2100, retriable=True),
        state=common_pb2.ImportFailed,
        row_count=5,
        id_list=[9, 10],
        infos=[common_pb2.KeyValuePair(key="failed_reason", value="bad file")],
        id=42,
        collection_id=43,
        segment_ids=[44],
        create_ts=45,
    )
    milvus_side.status.extra_info["hint"] = "retry"
    parsed = pb.GetImportStateResponse.FromString(milvus_side.SerializeToString())
    assert parsed.state == pb.ImportFailed
    assert parsed.status.error_code == common_pb2.UnexpectedError
    assert (parsed.status.reason, parsed.status.code, parsed.status.retriable) == ("boom", 2100, True)
    assert dict(parsed.status.extra_info) == {"hint": "retry"}
    assert (parsed.row_count, list(parsed.id_list)) == (5, [9, 10])
    assert [(kv.key, kv.value) for kv in parsed.infos] == [("failed_reason", "bad file")]
    assert (parsed.id, parsed.collection_id, list(parsed.segment_ids), parsed.create_ts) == (42, 43, [44], 45)
    assert parsed.SerializeToString(deterministic=True) == milvus_side.SerializeToString(deterministic=True)


def test_import_request_wire_compatible_with_pymilvus() -> None:
    ours = pb.ImportRequest(
        collection_name="books",
        partition_name="p1",
        channel_names=["ch-0"],
        row_based=False,
        files=["a.json", "b.json"],
        options=[pb.KeyValuePair(key="backup", value="true")],
        db_name="library",
        clustering_info=b"\x01\x02",
    )
    theirs = milvus_pb2.ImportRequest.FromString(ours.SerializeToString())
    assert (theirs.collection_name, theirs.partition_name, theirs.db_name) == ("books", "p1", "library")
    assert list(theirs.channel_names) == ["ch-0"]
    assert theirs.row_based is False
    assert list(theirs.files) == ["a.json", "b.json"]
    assert [(kv.key, kv.value) for kv in theirs.options] == [("backup", "true")]
    assert theirs.clustering_info == b"\x01\x02"

    milvus_side = milvus_pb2.ImportRequest(
        collection_name="c",
        partition_name="_default",
        row_based=True,
        files=["x.parquet"],
        options=[common_pb2.KeyValuePair(key="sep", value=",")],
        db_name="default",
    )
    parsed = pb.ImportRequest.FromString(milvus_side.SerializeToString())
    assert (parsed.collection_name, parsed.partition_name, parsed.row_based) == ("c", "_default", True)
    assert list(parsed.files) == ["x.parquet"]
    assert [(kv.key, kv.value) for kv in parsed.options] == [("sep", ",")]
    assert parsed.db_name == "default"
    assert parsed.SerializeToString() == milvus_side.SerializeToString()


# ---------------------------------------------------------------------------------------------------------------------
# The generated module loads, with no warning, on the lowest protobuf pyproject.toml declares and on the installed one.


def _declared_protobuf_lowest() -> str:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        if requirement.name.lower() != "protobuf":
            continue
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(lower) == 1, f"pyproject.toml's {dependency!r} must have exactly one '>=' lower bound"
        return lower[0]
    raise AssertionError("pyproject.toml does not declare a protobuf dependency")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _protobuf_target(version: str) -> Path:
    """`pip install --target` protobuf==version once into .cache/ and reuse it; fail (never skip) on error."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}-{sys.platform}-{platform.machine()}"
    target = PROTOBUF_CACHE / f"protobuf-{version}-{tag}"
    done = target / ".installed"
    with _file_lock(PROTOBUF_CACHE / f"protobuf-{version}-{tag}.lock"):
        if done.is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".protobuf-{version}-", dir=PROTOBUF_CACHE))
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
            str(staging),
            f"protobuf=={version}",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"installing protobuf=={version} timed out after {PIP_TIMEOUT_S}s: {' '.join(cmd)}")
        if proc.returncode != 0 or not (staging / "google" / "protobuf" / "__init__.py").is_file():
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(
                f"could not install protobuf=={version} (the lowest declared in pyproject.toml) with "
                f"{' '.join(cmd)} (exit {proc.returncode}); it needs pip in the test interpreter and a wheel "
                f"for this Python.\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        (staging / ".installed").write_text(f"protobuf=={version}\n")
        os.replace(staging, target)
    return target


# Runs in a subprocess. Loads only the generated module (through stub parent packages, so the provider's
# __init__ and anything it imports stay out) and round-trips a GetImportStateResponse.
_LOAD_AND_ROUND_TRIP = r"""
import importlib.util, json, sys, types
pb2_file, proto_dir, package_dir, target = sys.argv[1:5]
if target:
    sys.path.insert(0, target)
for name, path in (("airflow_provider_milvus", package_dir), ("airflow_provider_milvus.proto", proto_dir)):
    stub = types.ModuleType(name)
    stub.__path__ = [path]
    sys.modules[name] = stub
import google.protobuf
from google.protobuf.internal import api_implementation
module_name = "airflow_provider_milvus.proto.milvus_import_pb2"
spec = importlib.util.spec_from_file_location(module_name, pb2_file)
pb = importlib.util.module_from_spec(spec)
sys.modules[module_name] = pb
spec.loader.exec_module(pb)
sent = pb.GetImportStateResponse(
    status=pb.Status(reason="ok", extra_info={"k": "v"}),
    state=pb.ImportFlushed,
    row_count=3,
    id_list=[1, 2, 3],
    infos=[pb.KeyValuePair(key="a", value="b")],
    id=449,
)
got = pb.GetImportStateResponse.FromString(sent.SerializeToString())
assert got == sent, (got, sent)
print(json.dumps({
    "version": google.protobuf.__version__,
    "protobuf_file": google.protobuf.__file__,
    "implementation": api_implementation.Type(),
    "state": got.state,
    "id_list": list(got.id_list),
    "infos": {kv.key: kv.value for kv in got.infos},
    "extra_info": dict(got.status.extra_info),
    "id": got.id,
}))
"""


def _load_in_subprocess(target: Path | None, implementation: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"}
    if implementation is not None:
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = implementation
    # -I: no PYTHONPATH, user site or cwd; -S (with a target): not even the venv's site-packages, so the
    # target's protobuf is the only one importable; -W error: any warning (e.g. gencode/runtime skew) fails.
    flags = ["-I", "-S"] if target is not None else ["-I"]
    proc = subprocess.run(
        [
            sys.executable,
            *flags,
            "-W",
            "error",
            "-c",
            _LOAD_AND_ROUND_TRIP,
            str(PB2_FILE),
            str(PROTO_DIR),
            str(PROTO_DIR.parent),
            str(target or ""),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"loading the generated module failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stderr == "", f"unexpected output on stderr:\n{proc.stderr}"
    result: dict[str, object] = json.loads(proc.stdout)
    assert result["state"] == 8
    assert result["id_list"] == [1, 2, 3]
    assert result["infos"] == {"a": "b"}
    assert result["extra_info"] == {"k": "v"}
    assert result["id"] == 449
    if implementation is not None:
        assert result["implementation"] == implementation
    return result


@pytest.mark.parametrize("implementation", ["upb", "python"])
def test_loads_on_lowest_declared_protobuf(implementation: str) -> None:
    lowest = _declared_protobuf_lowest()
    target = _protobuf_target(lowest)
    result = _load_in_subprocess(target, implementation)
    assert Version(str(result["version"])) == Version(lowest), result
    assert str(result["protobuf_file"]).startswith(str(target)), result


@pytest.mark.parametrize("implementation", ["upb", "python"])
def test_loads_on_installed_protobuf_without_warnings(implementation: str) -> None:
    result = _load_in_subprocess(None, implementation)
    assert result["version"] == protobuf_version
