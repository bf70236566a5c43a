"""BulkInsertState: one import job at one moment, whichever API it was read from.

Field names follow pymilvus's ``BulkInsertState`` so code written against
pymilvus reads the same; the fields the REST APIs add sit beside them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, Final

# Milvus ``ImportState`` codes (milvus.proto.common) plus pymilvus's Unknown.
PENDING: Final = 0
FAILED: Final = 1
STARTED: Final = 2
PERSISTED: Final = 5
COMPLETED: Final = 6
FAILED_AND_CLEANED: Final = 7
FLUSHED: Final = 8
UNKNOWN: Final = 100

STATE_NAMES: Final[dict[int, str]] = {
    PENDING: "Pending",
    FAILED: "Failed",
    STARTED: "Started",
    PERSISTED: "Persisted",
    COMPLETED: "Completed",
    FAILED_AND_CLEANED: "FailedAndCleaned",
    FLUSHED: "Flushed",
    UNKNOWN: "Unknown",
}
STATE_CODES: Final[dict[str, int]] = {name: code for code, name in STATE_NAMES.items()}

TERMINAL_STATES: Final = frozenset({COMPLETED, FAILED, FAILED_AND_CLEANED})
FAILED_STATES: Final = frozenset({FAILED, FAILED_AND_CLEANED})

# REST v2 / Zilliz Cloud job states. Every in-flight state maps to Started;
# anything unrecognised maps to Unknown, never to a crash.
REST_STATES: Final[dict[str, int]] = {
    "Pending": PENDING,
    "Importing": STARTED,
    "PreImporting": STARTED,
    "Sorting": STARTED,
    "IndexBuilding": STARTED,
    "Uncommitted": STARTED,
    "Committing": STARTED,
    "InProgress": STARTED,
    "Completed": COMPLETED,
    "Failed": FAILED,
}


def state_code(value: int) -> int:
    """The contract's state code for a raw ImportState value (Unknown if unmapped)."""
    return value if value in STATE_NAMES else UNKNOWN


def rest_state_code(name: str) -> int:
    """The state code of a REST v2 / Zilliz Cloud state name (Unknown if unmapped)."""
    return REST_STATES.get(name, UNKNOWN)


def format_create_time(timestamp: int) -> str:
    """Seconds since the epoch as pymilvus prints them (local time), "" if unknown."""
    if timestamp <= 0:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    except (OverflowError, OSError, ValueError):  # not seconds (a hybrid timestamp, garbage): no text
        return ""


@dataclass(frozen=True)
class BulkInsertState:
    """An immutable description of one Milvus or Zilliz Cloud import job at one moment."""

    task_id: str
    state: int
    row_count: int = 0
    total_rows: int | None = None
    progress: int = 0
    infos: dict[str, str] = field(default_factory=dict)
    failed_reason: str = ""
    collection_name: str = ""
    partition_name: str = ""
    files: list[str] = field(default_factory=list)
    id_ranges: list[int] = field(default_factory=list)
    create_timestamp: int = 0
    create_time_str: str = ""
    complete_time: str = ""
    file_size: int | None = None
    details: list[dict[str, Any]] = field(default_factory=list)
    state_name: str = ""
    #: The state word exactly as the server sent it (REST: ``Importing``, ``Uncommitted``...; gRPC: the enum name).
    server_state: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str):
            raise TypeError(f"BulkInsertState.task_id must be a str, got {type(self.task_id).__name__}")
        if not isinstance(self.state, int) or isinstance(self.state, bool):
            raise TypeError(f"BulkInsertState.state must be an int, got {type(self.state).__name__}")
        expected = STATE_NAMES.get(self.state)
        if expected is None:
            raise ValueError(f"BulkInsertState.state {self.state} is not one of {sorted(STATE_NAMES)}")
        if not self.state_name:
            object.__setattr__(self, "state_name", expected)
        elif self.state_name != expected:
            raise ValueError(f"BulkInsertState.state_name {self.state_name!r} does not match state {self.state}")
        if not 0 <= self.progress <= 100:
            raise ValueError(f"BulkInsertState.progress {self.progress} is outside 0..100")
        if not isinstance(self.server_state, str):
            raise TypeError(f"BulkInsertState.server_state must be a str, got {type(self.server_state).__name__}")

    @property
    def ids(self) -> list[int]:
        """Auto-generated ids, expanded from the ``[begin, end)`` pairs of ``id_ranges`` (as pymilvus does)."""
        out: list[int] = []
        for i in range(0, len(self.id_ranges) - 1, 2):
            out.extend(range(self.id_ranges[i], self.id_ranges[i + 1]))
        return out

    @property
    def staged(self) -> bool:
        """True when a two-phase import (Milvus 3.0+) waits for a commit: its data is staged, not yet visible."""
        return self.server_state == "Uncommitted"

    @property
    def is_terminal(self) -> bool:
        """True when the job will not change any more (Completed, Failed, FailedAndCleaned)."""
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        """True only when the server said Completed."""
        return self.state == COMPLETED

    @property
    def failed(self) -> bool:
        """True when the job failed (Failed or FailedAndCleaned)."""
        return self.state in FAILED_STATES

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only: the XCom value. ``ids`` is derived from ``id_ranges``, not stored."""
        return {
            "task_id": self.task_id,
            "state": self.state,
            "state_name": self.state_name,
            "row_count": self.row_count,
            "total_rows": self.total_rows,
            "progress": self.progress,
            "infos": dict(self.infos),
            "failed_reason": self.failed_reason,
            "collection_name": self.collection_name,
            "partition_name": self.partition_name,
            "files": list(self.files),
            "id_ranges": list(self.id_ranges),
            "create_timestamp": self.create_timestamp,
            "create_time_str": self.create_time_str,
            "complete_time": self.complete_time,
            "file_size": self.file_size,
            "details": [dict(d) for d in self.details],
            "server_state": self.server_state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkInsertState:
        """Read back what :meth:`to_dict` wrote (unknown keys are ignored, so newer XComs still load)."""
        if not isinstance(data, dict):
            raise TypeError(f"BulkInsertState.from_dict expects a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        missing = {"task_id", "state"} - kwargs.keys()
        if missing:
            raise ValueError(f"BulkInsertState.from_dict: missing {sorted(missing)}")
        for key in ("infos",):
            kwargs[key] = dict(kwargs.get(key) or {})
        for key in ("files", "id_ranges"):
            kwargs[key] = list(kwargs.get(key) or [])
        kwargs["details"] = [dict(d) for d in kwargs.get("details") or []]
        kwargs["server_state"] = kwargs.get("server_state") or ""  # absent from 0.1 XComs
        return cls(**kwargs)

    def summary(self) -> str:
        """One line for logs: state, progress and rows."""
        rows = f"{self.row_count}" + (f"/{self.total_rows}" if self.total_rows is not None else "")
        text = f"job {self.task_id}: {self.state_name}, {self.progress}%, {rows} rows"
        if self.failed_reason:
            text += f", reason: {self.failed_reason}"
        return text
