"""The wheel holds everything the package needs, and its provider info is valid for this leg's Airflow."""

from __future__ import annotations

import configparser
import json
import zipfile
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_milvus.get_provider_info import get_provider_info

PACKAGE = "airflow_provider_milvus"


def test_wheel_holds_the_typing_marker_the_proto_and_the_generated_modules(wheel_path: Path) -> None:
    names = set(zipfile.ZipFile(wheel_path).namelist())
    for required in (
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/proto/milvus_import.proto",
        f"{PACKAGE}/proto/milvus_import_pb2.py",
        f"{PACKAGE}/proto/milvus_import_pb2.pyi",
        f"{PACKAGE}/get_provider_info.py",
        f"{PACKAGE}/version_compat.py",
    ):
        assert required in names, f"{required} missing from {wheel_path.name}"
    sources = {Path(name).relative_to(PACKAGE).as_posix() for name in names if name.startswith(f"{PACKAGE}/")}
    checkout = Path(__file__).resolve().parents[2] / PACKAGE
    expected = {p.relative_to(checkout).as_posix() for p in checkout.rglob("*.py") if "__pycache__" not in p.parts}
    assert expected - sources == set(), "modules of the checkout missing from the wheel"


def test_wheel_declares_the_airflow_provider_entry_point(wheel_path: Path) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        entry_points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
        parser = configparser.ConfigParser()
        parser.read_string(wheel.read(entry_points).decode())
    assert dict(parser["apache_airflow_provider"]) == {
        "provider_info": f"{PACKAGE}.get_provider_info:get_provider_info"
    }


def test_provider_info_validates_against_this_airflows_schema() -> None:
    schema_path = Path(airflow.__file__).with_name("provider_info.schema.json")
    schema = json.loads(schema_path.read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-milvus"
