"""The ``milvus`` asset URI scheme: one asset per collection, ``milvus://HOST:PORT/DB/COLLECTION``.

HOST is lower-cased and PORT always written (19530 by default, 443 for an ``https`` URI without a
port), DB is ``default`` when none is set; a Zilliz Cloud connection (protocol ``cloud``) names its
cluster instead: ``milvus://CLUSTER_ID/DB/COLLECTION``. Registered with Airflow through
``get_provider_info()`` (``asset-uris``, and ``dataset-uris`` for Airflow 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import SplitResult, quote, unquote

from airflow_provider_milvus.settings import DEFAULT_PORT, MilvusSettings
from airflow_provider_milvus.version_compat import ALIAS_EVENTS_ARE_DICTS, ASSET_EXTRA_HASHED

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Asset

SCHEME: Final = "milvus"
DEFAULT_DB: Final = "default"
#: Zilliz Cloud cluster ids (``in01-0123abcd...``): the authority of a cloud asset, written without a port.
_CLUSTER_ID: Final = re.compile(r"in\d{2}-[0-9a-z]+")


def _authority(host: str, port: int | None) -> str:
    """``host:port`` with the host lower-cased (IPv6 in brackets); a cluster id alone."""
    host = host.strip().strip("[]").lower()
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def collection_uri(settings: MilvusSettings, collection_name: str, db_name: str | None = None) -> str:
    """The asset URI of a collection reached through these connection settings."""
    if not collection_name:
        raise ValueError("a Milvus asset needs a collection name")
    db = db_name or settings.db_name or DEFAULT_DB
    if settings.protocol == "cloud":
        if not settings.cloud_cluster_id:
            raise ValueError("a Zilliz Cloud asset needs the connection's cloud_cluster_id")
        authority = _authority(settings.cloud_cluster_id, None)
    else:
        authority = _authority(settings.host, settings.port)
    return f"{SCHEME}://{authority}/{quote(db, safe='')}/{quote(collection_name, safe='')}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's handler for ``milvus://`` URIs: check the shape and normalise host, port and database."""
    if not uri.hostname:
        raise ValueError("URI format milvus:// must contain a host (HOST:PORT or a Zilliz Cloud cluster id)")
    parts = [p for p in uri.path.split("/")]
    if len(parts) == 2 and parts[1]:  # milvus://host/collection: the default database
        parts = ["", DEFAULT_DB, parts[1]]
    if len(parts) != 3 or parts[0] or not parts[1] or not parts[2]:
        raise ValueError(f"URI format milvus:// must be milvus://HOST:PORT/DB/COLLECTION, got path {uri.path!r}")
    if uri.query or uri.fragment:
        raise ValueError("URI format milvus:// takes no query or fragment")
    port = uri.port
    host = uri.hostname
    if port is None and not _CLUSTER_ID.fullmatch(host):
        port = DEFAULT_PORT
    netloc = _authority(host, port)
    return uri._replace(netloc=netloc, path=f"/{parts[1]}/{parts[2]}")


def create_asset(
    *, host: str, collection_name: str, port: int | None = DEFAULT_PORT, db_name: str | None = None, extra: Any = None
) -> Asset:
    """``Asset`` of a collection; ``port=None`` for a Zilliz Cloud cluster id as ``host``."""
    from airflow.providers.common.compat.sdk import Asset

    db = db_name or DEFAULT_DB
    uri = f"{SCHEME}://{_authority(host, port)}/{quote(db, safe='')}/{quote(collection_name, safe='')}"
    return Asset(uri=uri, extra=extra)


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of a collection asset: namespace ``milvus://HOST:PORT``, name ``DB.COLLECTION``."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return dataset_of_uri(str(asset.uri), Dataset)


def dataset_of_uri(uri: str, dataset_class: Any) -> Any:
    """Split an asset URI into OpenLineage's namespace and name (``dataset_class(namespace=, name=)``)."""
    from urllib.parse import urlsplit

    split = sanitize_uri(urlsplit(uri))
    _, db, collection = split.path.split("/")
    return dataset_class(namespace=f"{SCHEME}://{split.netloc}", name=f"{unquote(db)}.{unquote(collection)}")


def import_alias(task: Any) -> Any:
    """The ``AssetAlias`` through which a task emits the event of a collection it only learns at run time."""
    from airflow.providers.common.compat.sdk import AssetAlias

    dag_id = task.dag_id if task.has_dag() else ""
    return AssetAlias(name=f"milvus_import:{dag_id}.{task.task_id}" if dag_id else f"milvus_import:{task.task_id}")


def import_event_extra(state: Any, db_name: str, *, hashed: bool = ASSET_EXTRA_HASHED) -> dict[str, Any]:
    """The contract's ``extra`` of a collection's asset event after an import: plain JSON values.

    Airflow 2.11 and 3.0 hash a task's asset event extra, so there (``hashed``) ``files`` travels as its
    JSON text (``json.loads`` reads the list back) and every value is a scalar; Airflow 3.1+ keeps the list.
    """
    files = [str(path) for path in state.files]
    return {
        "job_id": state.task_id,
        "row_count": state.row_count,
        "collection_name": state.collection_name,
        "partition_name": state.partition_name,
        "db_name": db_name,
        "files": json.dumps(files) if hashed else files,
    }


def _alias_event(event: Any) -> tuple[str | None, Any]:
    """``(uri, extra)`` of an alias event already added: a dict on Airflow 2.11, an object on 3."""
    if ALIAS_EVENTS_ARE_DICTS:
        return event.get("dest_dataset_uri"), event.get("extra")
    return getattr(event.dest_asset_key, "uri", None), event.extra


def emit_import_event(context: Any, outlets: list[Any], uri: str, extra: dict[str, Any]) -> bool:
    """Attach the event to the task's outlet for ``uri``: the Asset itself when declared, else the alias.

    Idempotent: the same event twice (a trigger event delivered twice, or a retry's reattach that ends
    in two steps) is recorded once. False when nothing was attached now.
    """
    from airflow.providers.common.compat.sdk import Asset, AssetAlias

    events = context.get("outlet_events") if hasattr(context, "get") else None
    if events is None:
        return False
    for outlet in outlets:
        if isinstance(outlet, Asset) and outlet.uri == uri:
            events[outlet].extra = dict(extra)
            return True
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            accessor = events[outlet]
            asset = Asset(uri=uri)
            known = accessor.dataset_alias_events if ALIAS_EVENTS_ARE_DICTS else accessor.asset_alias_events
            if (asset.uri, extra) in map(_alias_event, known):
                return False  # already attached: said once in the log
            accessor.add(asset, extra=dict(extra))
            return True
    return False


def emit_for_state(
    context: Any,
    task: Any,
    settings: Callable[[], MilvusSettings],
    state: Any,
    db_name: str | None,
    collection_name: str = "",
) -> None:
    """Emit the asset event of a completed import for ``task`` (settings are read only inside a task run)."""
    if not hasattr(context, "get") or context.get("outlet_events") is None:
        return
    conn = settings()
    db = db_name or conn.db_name or DEFAULT_DB
    uri = collection_uri(conn, state.collection_name or collection_name, db)
    if emit_import_event(context, task.outlets, uri, import_event_extra(state, db)):
        task.log.info("Asset event for %s: job %s, %s rows", uri, state.task_id, state.row_count)
