"""A minimal task context for unit tests of the sensor and operator: records XCom pushes."""

from __future__ import annotations

from typing import Any


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
