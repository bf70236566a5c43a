"""The one place that knows which Airflow release is running (as the official providers' version_compat.py).

Everything else imports these flags instead of comparing versions itself.
"""

from __future__ import annotations


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """The running Airflow's (major, minor, micro), pre-release and local parts dropped."""
    from airflow import __version__
    from packaging.version import Version

    version = Version(__version__)
    return version.major, version.minor, version.micro


AIRFLOW_V_3_0_PLUS = get_base_airflow_version_tuple() >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS = get_base_airflow_version_tuple() >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = get_base_airflow_version_tuple() >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = get_base_airflow_version_tuple() >= (3, 3, 0)

# Airflow 3.3 brought ResumableJobMixin and the task_state_store it keeps the job id in. Below 3.3,
# common-compat 1.23+ hands out a stand-in that submits on every try; older common-compat has none,
# so the provider's own stand-in takes its place. Either way the operator's own server-side search
# (airflow_provider_milvus.resume) keeps a retry from importing twice.
if AIRFLOW_V_3_3_PLUS:
    from airflow.sdk import ResumableJobMixin
else:  # pragma: no cover - exercised by the older-Airflow legs
    try:
        from airflow.providers.common.compat.sdk import ResumableJobMixin
    except ImportError:
        from airflow_provider_milvus.resume import FallbackResumableJobMixin as ResumableJobMixin  # type: ignore[assignment]

# Event triggers for AssetWatcher (event-driven scheduling) came with Airflow 3.0. On 2.x the name stands for
# BaseTrigger so that the provider's trigger module imports; constructing an event trigger there refuses.
if AIRFLOW_V_3_0_PLUS:
    from airflow.triggers.base import BaseEventTrigger
else:  # pragma: no cover - exercised by the older-Airflow legs
    from airflow.triggers.base import BaseTrigger as BaseEventTrigger  # type: ignore[assignment]

#: True where an ``AssetWatcher`` runs a ``BaseEventTrigger`` (event-driven scheduling, Airflow 3.0+).
HAS_EVENT_TRIGGERS = AIRFLOW_V_3_0_PLUS
#: True where the triggerer gives a watcher's trigger its asset's state store (AIP-103, Airflow 3.3+).
HAS_ASSET_STATE_STORE = AIRFLOW_V_3_3_PLUS
#: True where a retry finds ``context["task_state_store"]`` (Airflow 3.3+).
HAS_TASK_STATE_STORE = AIRFLOW_V_3_3_PLUS
#: True where the triggerer calls ``BaseTrigger.on_kill`` when a user kills or clears a deferred task.
HAS_TRIGGER_ON_KILL = AIRFLOW_V_3_3_PLUS
#: True where the scheduler really begins a task with ``start_from_trigger`` in the triggerer: 2.10 to 3.0
#: (for an unmapped task; upstream calls 3.0's path broken in general, apache/airflow#48009, but it begins
#: and ends this sensor right on 3.0.6 services) and 3.3+. 3.1 and 3.2 comment that scheduler code out
#: (``models/dagrun.py``, apache/airflow#66307): there the task starts on a worker all the same.
STARTS_TASKS_IN_TRIGGERER = not AIRFLOW_V_3_1_PLUS or AIRFLOW_V_3_3_PLUS
#: True where the triggerer renders a ``start_from_trigger`` task's templated trigger kwargs (3.3+).
RENDERS_START_TRIGGER_TEMPLATES = AIRFLOW_V_3_3_PLUS
#: True where a trigger's ``TaskFailedEvent`` honours the task's retries (3.3.1+, apache/airflow#69821);
#: before, it failed the task for good whatever its ``retries``.
TRIGGER_FAILURE_RETRIES = get_base_airflow_version_tuple() >= (3, 3, 1)
#: True where a retry of a deferred task resumes with the failed try's event: Airflow 3.0's execution API
#: keeps ``next_method`` / ``next_kwargs`` when it sets the task up for retry (3.1 clears them).
RETRY_KEEPS_RESUME_POINT = AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS
#: True where an asset (dataset) event's ``extra`` must hold only hashable values: Airflow 2.11 and 3.0
#: hash each alias event's extra (``frozenset(extra.items())``, 2.11 in ``_register_dataset_changes``,
#: 3.0 in ``register_asset_changes_in_db``), so a list in it fails the task after its work is done.
ASSET_EXTRA_HASHED = not AIRFLOW_V_3_1_PLUS
#: True where the events added to an alias are dicts (``dest_dataset_uri``, ``extra``): Airflow 2.11.
ALIAS_EVENTS_ARE_DICTS = not AIRFLOW_V_3_0_PLUS

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "HAS_ASSET_STATE_STORE",
    "HAS_EVENT_TRIGGERS",
    "ALIAS_EVENTS_ARE_DICTS",
    "ASSET_EXTRA_HASHED",
    "HAS_TASK_STATE_STORE",
    "HAS_TRIGGER_ON_KILL",
    "BaseEventTrigger",
    "RENDERS_START_TRIGGER_TEMPLATES",
    "RETRY_KEEPS_RESUME_POINT",
    "STARTS_TASKS_IN_TRIGGERER",
    "TRIGGER_FAILURE_RETRIES",
    "ResumableJobMixin",
    "get_base_airflow_version_tuple",
]
