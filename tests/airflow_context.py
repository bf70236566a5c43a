"""A minimal task context for unit tests of the sensor and operator: records XCom pushes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred


class RecordingTI:
    """Stands in for the task instance: keeps what was pushed, answers pulls from it."""

    def __init__(self, try_number: int = 1, max_tries: int = 0) -> None:
        self.pushed: dict[str, Any] = {}
        self.map_index = -1
        self.try_number = try_number
        self.max_tries = max_tries
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", map_indexes: Any = None) -> Any:
        return self.pushed.get(key)


class MemoryTaskStateStore:
    """Airflow 3.3's ``task_state_store`` as a dict: what survives from one try to the next."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.stored: dict[str, Any] = dict(stored or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.stored.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.stored[key] = value

    def delete(self, key: str) -> None:
        self.stored.pop(key, None)


class FakeDagRun:
    """The run's ``start_date``: the earliest an earlier try's job can have been created."""

    def __init__(self, start_date: datetime | None = None) -> None:
        self.start_date = start_date or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.queued_at = self.start_date


def make_context(
    *,
    store: MemoryTaskStateStore | None = None,
    try_number: int = 1,
    max_tries: int = 0,
    dag_run: FakeDagRun | None = None,
    outlet_events: Any = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": RecordingTI(try_number, max_tries), "dag_run": dag_run or FakeDagRun()}
    if store is not None:
        context["task_state_store"] = store
    if outlet_events is not None:
        context["outlet_events"] = outlet_events
    return context


async def fire(trigger: Any, timeout: float = 60.0) -> dict[str, Any]:
    """The one event payload of a trigger (it must fire exactly one)."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = await asyncio.wait_for(collect(), timeout)
    assert len(events) == 1, events
    return events[0]


def run_deferred(task: Any, context: dict[str, Any]) -> Any:
    """Execute ``task``; if it defers, run its trigger here and resume the task with the event."""
    try:
        return task.execute(context)
    except TaskDeferred as deferred:
        event = asyncio.run(fire(deferred.trigger))
        return getattr(task, deferred.method_name)(context, event)
