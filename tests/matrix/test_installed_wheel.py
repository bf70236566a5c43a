"""The leg runs the provider from its wheel, at the versions its constraints file pins."""

from __future__ import annotations

import json
import re
import sysconfig
from importlib import metadata
from pathlib import Path

import airflow_provider_milvus
from airflow_provider_milvus.version_compat import get_base_airflow_version_tuple

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints"


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of a constraints file (names normalised)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            found[normalise(match[1])] = match[2]
    return found


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def leg_constraints(leg: str) -> Path:
    """The constraints file a leg installs with."""
    name = "airflow-2.11.0-floors.txt" if leg == "floors" else f"airflow-{leg}.txt"
    return CONSTRAINTS / name


def test_provider_is_imported_from_the_installed_wheel(leg: str) -> None:
    module = Path(airflow_provider_milvus.__file__).resolve()
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert module.is_relative_to(site_packages), f"{module} is not in {site_packages}"
    assert not module.is_relative_to(REPO), f"imported from the checkout: {module}"
    dist = metadata.distribution("airflow-provider-milvus")
    direct_url = dist.read_text("direct_url.json")
    editable = bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))
    assert not editable, f"installed editable: {direct_url}"
    assert dist.version == airflow_provider_milvus.__version__


def test_installed_versions_are_the_constraints_files(leg: str) -> None:
    pinned = pins(leg_constraints(leg))
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differing = {
        name: (version, installed.get(name)) for name, version in pinned.items() if installed.get(name) != version
    }
    assert differing == {}, "pinned -> installed"
    airflow = ".".join(map(str, get_base_airflow_version_tuple()))
    assert airflow == pinned["apache-airflow"]


def test_floors_file_pins_every_declared_floor_exactly() -> None:
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {}
    for line in declared:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,<[0-9.]+)?", line)
        assert match, f"dependency without a plain >= floor: {line}"
        floors[normalise(match[1])] = match[2]
    pinned = pins(CONSTRAINTS / "airflow-2.11.0-floors.txt")
    assert {name: pinned.get(name) for name in floors} == floors
    assert floors["apache-airflow"] == "2.11.0"


def test_every_leg_has_a_constraints_file_naming_its_airflow() -> None:
    for release in ("2.11.2", "3.0.6", "3.1.8", "3.2.2", "3.3.2"):
        assert pins(leg_constraints(release))["apache-airflow"] == release
