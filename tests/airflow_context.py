"""A minimal task context for unit tests of the sensor and operator: records XCom pushes."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred


class RecordingTI:
    """Stands in for the task instance: keeps what was pushed, answers pulls from it."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.pushed.get(key)


def make_context() -> dict[str, Any]:
    return {"ti": RecordingTI()}


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
