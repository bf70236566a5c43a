"""Provider metadata Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_milvus import __version__

#: The ``milvus`` connection's extra fields, declared for the form of Airflow 3.2+.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "token": {
        "label": "Token",
        "schema": {"type": ["string", "null"], "format": "password", "examples": ["root:Milvus"]},
        "description": "API key or user:password; wins over Login and Password.",
    },
    "db_name": {
        "label": "Database",
        "schema": {"type": ["string", "null"], "examples": ["default"]},
        "description": "Milvus database of the collections (empty: the server's default).",
    },
    "protocol": {
        "label": "Protocol",
        "schema": {"type": ["string", "null"], "enum": ["auto", "grpc", "rest", "cloud"]},
        "description": "auto finds out what the server speaks; grpc (Milvus 2.2+), rest (RESTful API v2, "
        "Milvus 2.4+) or cloud (Zilliz Cloud control plane).",
    },
    "secure": {
        "label": "Use TLS for gRPC",
        "schema": {"type": ["boolean", "null"]},
        "description": "TLS for gRPC; an https:// URI implies it.",
    },
    "server_ca": {
        "label": "Server CA certificate path",
        "schema": {"type": ["string", "null"]},
        "description": "Path to a PEM CA certificate to verify the server with (default: system roots).",
    },
    "cloud_api_key": {
        "label": "Zilliz Cloud API key",
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "Control-plane API key (protocol cloud).",
    },
    "cloud_cluster_id": {
        "label": "Zilliz Cloud cluster id",
        "schema": {"type": ["string", "null"], "examples": ["in01-xxxxxxxxxxxxxxx"]},
        "description": "The cluster's instance id, e.g. in01-xxxxxxxxxxxxxxx (protocol cloud).",
    },
    "cloud_endpoint": {
        "label": "Zilliz Cloud API endpoint",
        "schema": {"type": ["string", "null"], "examples": ["https://api.cloud.zilliz.com"]},
        "description": "Control-plane base URL (default https://api.cloud.zilliz.com).",
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "examples": [30]},
        "description": "Seconds one request may take (default 30).",
    },
}

#: How the standard connection fields are shown for a ``milvus`` connection. Airflow 3.3 reads the
#: relabelling and the standard fields' placeholders; older forms also read the extras' placeholders.
#: Schema is hidden on every form: the database is asked once, as the extra ``db_name`` (a Schema set
#: outside the form, e.g. in a connection URI, is still read as its fallback).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["extra", "schema"],
    # Password and Port too: the Airflow 3.0 and 3.1 forms label unrelabelled fields in lower case.
    "relabeling": {
        "host": "Milvus URI",
        "login": "User",
        "password": "Password",
        "port": "Port",
    },
    "placeholders": {
        "host": "http://localhost:19530 or https://in01-xxxx.zillizcloud.com",
        "port": "19530",
        "login": "root",
        "password": "Milvus password",
        "token": "user:password or API key",
        "db_name": "default",
        "protocol": "auto",
        "cloud_cluster_id": "in01-xxxxxxxxxxxxxxx",
        "cloud_endpoint": "https://api.cloud.zilliz.com",
        "timeout": "30",
    },
}

#: The ``milvus`` asset URI scheme: Airflow normalises URIs with the handler, and ``Asset``s are
#: made and turned into OpenLineage datasets by the factory and the converter.
ASSET_URIS: dict[str, Any] = {
    "schemes": ["milvus"],
    "handler": "airflow_provider_milvus.assets.sanitize_uri",
    "factory": "airflow_provider_milvus.assets.create_asset",
    "to_openlineage_converter": "airflow_provider_milvus.assets.convert_asset_to_openlineage",
}


#: The ``[milvus]`` section of airflow.cfg: settings of a whole process, not of one connection.
CONFIG: dict[str, Any] = {
    "milvus": {
        "description": "Settings of the Milvus provider that hold for every connection of one Airflow process.",
        "options": {
            "cloud_requests_per_second": {
                "description": "This process's share of Zilliz Cloud's limit of 20 requests per second per API "
                "key and endpoint. Each triggerer (and worker) process keeps its own budget, and "
                "rate-limit answers back off; set it to 20 divided by the number of processes that may "
                "talk to one cluster at once. The default, 6, is safe for three triggerers.",
                "version_added": "0.2.0",
                "type": "float",
                "example": "9",
                "default": "6",
            },
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    """What this provider adds to Airflow: hook, trigger, sensor, operator and the ``milvus`` connection."""
    return {
        "package-name": "airflow-provider-milvus",
        "name": "Milvus",
        "description": "Milvus and Zilliz Cloud bulk imports: start them, and wait for them in the triggerer.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Milvus",
                "external-doc-url": "https://milvus.io/docs/import-data.md",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": "Milvus", "python-modules": ["airflow_provider_milvus.hooks.milvus_import"]}],
        "triggers": [
            {"integration-name": "Milvus", "python-modules": ["airflow_provider_milvus.triggers.milvus_import"]}
        ],
        "sensors": [
            {"integration-name": "Milvus", "python-modules": ["airflow_provider_milvus.sensors.milvus_import"]}
        ],
        "operators": [
            {"integration-name": "Milvus", "python-modules": ["airflow_provider_milvus.operators.milvus_import"]}
        ],
        "asset-uris": [ASSET_URIS],
        "dataset-uris": [ASSET_URIS],  # Airflow 2 reads this name
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_milvus.hooks.milvus_import.MilvusImportHook",
                "connection-type": "milvus",
                "hook-name": "Milvus",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "config": CONFIG,
    }
