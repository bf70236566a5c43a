"""What tests read from Airflow's own models, which moved between releases (flags from version_compat)."""

from __future__ import annotations

from typing import Any

from airflow_provider_milvus.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS


def dag_bag(folder: str) -> Any:
    """A DagBag of folder: airflow.dag_processing.dagbag from 3.2, airflow.models.dagbag before."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag(folder)


def write_as_parsed(bag: Any) -> None:
    """Write a DagBag's DAGs to the database as the DAG processor does, where ``dag.test()`` does not.

    Airflow 2.11's ``dag.test()`` runs the DAG object but looks its outlet dataset aliases up in the
    database (a missing one fails the task: "Can't flush None value found in collection
    DatasetModel.aliases"); in a deployment the DAG processor has written them. Airflow 3's
    ``dag.test()`` writes the DAGs itself.
    """
    if not AIRFLOW_V_3_0_PLUS:
        bag.sync_to_db()


def xcom_values(run_id: str) -> dict[tuple[str, str], Any]:
    """Every XCom of a run from the metadata database, ``(task_id, key) -> value`` (XComModel from 3.0, XCom before)."""
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.xcom import XComModel as model
    else:
        from airflow.models.xcom import XCom as model  # its rows deserialize their value on load

    with create_session() as session:
        rows = session.query(model).filter(model.run_id == run_id).all()
        return {(row.task_id, row.key): row.value for row in rows}


def serialized_round_trip(dag: Any) -> Any:
    """``dag`` serialized and read back as the scheduler does (DagSerialization, or SerializedDAG before it)."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization as serializer
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as serializer
    return serializer.from_dict(serializer.to_dict(dag))


def asset_events(uri: str) -> list[dict[str, Any]]:
    """Every event of the asset ``uri`` from the metadata database, oldest first, as plain dicts.

    Airflow 3: ``AssetEvent`` / ``AssetModel`` (table ``asset_event``); 2.11: ``DatasetEvent`` /
    ``DatasetModel`` (table ``dataset_event``). The ``extra`` is what the database gave back.
    """
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent as event_model
        from airflow.models.asset import AssetModel as asset_model

        foreign_key = event_model.asset_id
    else:
        from airflow.models.dataset import DatasetEvent as event_model
        from airflow.models.dataset import DatasetModel as asset_model

        foreign_key = event_model.dataset_id

    with create_session() as session:
        rows = (
            session.query(event_model)
            .join(asset_model, asset_model.id == foreign_key)
            .filter(asset_model.uri == uri)
            .order_by(event_model.id)
            .all()
        )
        return [
            {
                "extra": row.extra,
                "source_dag_id": row.source_dag_id,
                "source_task_id": row.source_task_id,
                "source_run_id": row.source_run_id,
            }
            for row in rows
        ]
