"""Idempotency keys: one per task instance's import and generation, printable ASCII within 256 bytes; versions."""

from __future__ import annotations

import json

import pytest

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.proto import milvus_import_pb2 as pb
from airflow_provider_milvus.protocol.base import GrpcResponse
from airflow_provider_milvus.protocol.cloud import BucketCredentials, CloudProtocol
from airflow_provider_milvus.protocol.grpc import GET_VERSION, GrpcProtocol
from airflow_provider_milvus.protocol.idempotency import (
    MAX_KEY_BYTES,
    ImportIdentity,
    check_key,
    honours_keys,
    parse_version,
)
from airflow_provider_milvus.protocol.rest import RestProtocol
from airflow_provider_milvus.resume import import_identity, try_in_generation
from tests.airflow_context import make_context

BASE = ImportIdentity("daily", "load", "scheduled__2026-12-01T00:00:00+00:00", -1, "1")


def printable_ascii(key: str) -> bool:
    return all(" " <= ch <= "~" for ch in key) and 0 < len(key.encode()) <= MAX_KEY_BYTES


def test_same_parts_same_key_and_every_part_counts() -> None:
    assert BASE.key() == ImportIdentity(*vars(BASE).values()).key() == BASE.key(1)
    others = [
        ImportIdentity("daily2", "load", BASE.run_id, -1, "1"),
        ImportIdentity("daily", "load2", BASE.run_id, -1, "1"),
        ImportIdentity("daily", "load", BASE.run_id + "x", -1, "1"),
        ImportIdentity("daily", "load", BASE.run_id, 0, "1"),
        ImportIdentity("daily", "load", BASE.run_id, -1, "4"),
    ]
    keys = {BASE.key(), BASE.key(2), *(o.key() for o in others)}
    assert len(keys) == 7 and all(printable_ascii(k) for k in keys)
    # Parts that run into each other still differ: the digest is over a JSON list, not a concatenation.
    assert ImportIdentity("a", "bc", "r", -1, "1").key() != ImportIdentity("ab", "c", "r", -1, "1").key()


def test_long_and_non_printable_parts_give_a_valid_key() -> None:
    wild = ImportIdentity("d" * 250, "t\u00e9\n\x00" * 80, "manual__\u2603" * 100, 7, "12")
    key = wild.key(3)
    assert printable_ascii(key) and key.endswith("-3") and len(key) < 100


def test_check_key_refuses_what_a_server_refuses() -> None:
    assert check_key("k" * 256) == "k" * 256
    for bad in ("", "k" * 257, "caf\u00e9", "tab\there", "nul\x00"):
        with pytest.raises(ValueError):
            check_key(bad)
    with pytest.raises(ValueError, match="counts from 1"):
        BASE.key(0)


@pytest.mark.parametrize(
    ("version", "honoured"),
    [
        ("v2.4.13", False),
        ("v2.6.23", False),
        ("v2.6.24", True),
        ("2.6.30", True),
        ("v2.6.24-rc1", False),
        ("v3.0.0", False),
        ("v3.0.1", False),
        ("v3.0.2", True),
        ("v3.1.0", True),
        ("v3.0.2-beta", False),
        ("", False),
        ("unknown", False),
    ],
)
def test_which_versions_honour_keys(version: str, honoured: bool) -> None:
    assert honours_keys(version) is honoured


def test_parse_version() -> None:
    assert parse_version("v2.6.24") == (2, 6, 24, 1)
    assert parse_version("v3.0.2-rc1") == (3, 0, 2, 0)
    assert parse_version("master") is None


# -- generation: a clear starts a new one, retries stay in it --------------------------------------------------------


def test_try_in_generation_follows_airflows_max_tries() -> None:
    # retries=2: first scheduled max_tries=2 (tries 1..3); cleared after try 3: max_tries=5 (tries 4..6).
    assert [try_in_generation(t, 2, 2) for t in (1, 2, 3)] == [(1, 1), (1, 2), (1, 3)]
    assert [try_in_generation(t, 5, 2) for t in (4, 5, 6)] == [(4, 1), (4, 2), (4, 3)]


class TI:
    def __init__(self, try_number: int, max_tries: int, map_index: int = -1) -> None:
        self.dag_id, self.task_id, self.run_id = "daily", "load", "manual__1"
        self.try_number, self.max_tries, self.map_index = try_number, max_tries, map_index


class Task:
    dag_id, task_id, retries = "daily", "load", 2


def identity(ti: TI) -> tuple[ImportIdentity, int]:
    return import_identity({"ti": ti}, Task())


def test_every_try_of_a_generation_shares_the_key_and_a_clear_changes_it() -> None:
    tries = [identity(TI(t, 2)) for t in (1, 2, 3)]
    assert len({i.key() for i, _ in tries}) == 1 and [p for _, p in tries] == [1, 2, 3]
    cleared = identity(TI(4, 5))
    assert cleared[0].key() != tries[0][0].key() and cleared[1] == 1
    assert identity(TI(1, 2, map_index=3))[0].key() != tries[0][0].key()


def test_without_max_tries_each_try_has_its_own_key() -> None:
    """A context that cannot tell a retry from a clear: never share a key between two tries."""
    first, second = make_context(try_number=1), make_context(try_number=2)
    for context in (first, second):
        del context["ti"].max_tries
    keys = {import_identity(c, Task())[0].key() for c in (first, second)}
    assert len(keys) == 2


# -- on the wire -----------------------------------------------------------------------------------------------------


def test_rest_create_sends_the_header() -> None:
    operation = RestProtocol("http://m:19530").start_import("c", ["a.parquet"], idempotency_key=BASE.key())
    request = next(operation)
    assert request.headers["Idempotency-Key"] == BASE.key()
    plain = next(RestProtocol("http://m:19530").start_import("c", ["a.parquet"]))
    assert "Idempotency-Key" not in plain.headers
    with pytest.raises(exc.MilvusImportConfigError, match="printable ASCII"):
        next(RestProtocol("http://m:19530").start_import("c", ["a.parquet"], idempotency_key="caf\u00e9"))


def test_grpc_import_sends_field_9() -> None:
    request = next(GrpcProtocol("m:19530").start_import("c", ["a.parquet"], idempotency_key=BASE.key()))
    assert pb.ImportRequest.FromString(request.body).idempotency_key == BASE.key()
    wire = pb.ImportRequest(idempotency_key="k").SerializeToString()
    assert wire == b"\x4a\x01k"  # field 9, wire type 2


def test_cloud_create_sends_the_header_keys_and_volume() -> None:
    cloud = CloudProtocol("https://api", api_key="key", cluster_id="in01")
    keys = BucketCredentials("AKIA1", "secret/2", "session3")
    request = next(cloud.start_import("c", ["s3://b/a.parquet"], idempotency_key="k1", credentials=keys))
    body = json.loads(request.body)
    assert request.headers["Idempotency-Key"] == "k1"
    assert (body["accessKey"], body["secretKey"], body["token"]) == ("AKIA1", "secret/2", "session3")
    assert body["objectUrls"] == [["s3://b/a.parquet"]] and "secret" not in repr(keys)
    volume = json.loads(next(cloud.start_import("c", ["data/1.parquet"], volume_name="vol")).body)
    assert volume["volumeName"] == "vol" and volume["dataPaths"] == [["data/1.parquet"]]
    assert "objectUrls" not in volume and "accessKey" not in volume
    with pytest.raises(exc.MilvusImportConfigError, match="volume takes no bucket credentials"):
        next(cloud.start_import("c", ["a"], volume_name="vol", credentials=keys))


def test_server_version_reads_get_version_and_survives_errors() -> None:
    grpc = GrpcProtocol("m:19530")
    operation = grpc.server_version()
    assert next(operation).method == GET_VERSION
    answer = pb.GetVersionResponse(status=pb.Status(), version="v2.6.24").SerializeToString()
    with pytest.raises(StopIteration) as done:
        operation.send(GrpcResponse("OK", answer))
    assert done.value.value == "v2.6.24"
    for response in (GrpcResponse("UNIMPLEMENTED"), GrpcResponse("OK", b"\xff\xff"), GrpcResponse("UNAVAILABLE")):
        operation = grpc.server_version()
        next(operation)
        with pytest.raises(StopIteration) as done:
            operation.send(response)
        assert done.value.value == ""
