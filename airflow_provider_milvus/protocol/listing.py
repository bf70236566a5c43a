"""What one list call answered and what it cost: the data a poller weighs a list against per-job reads with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from airflow_provider_milvus.state import BulkInsertState


@dataclass(frozen=True)
class Listing:
    """The states a list call returned, whether they are all the server holds in its scope, and its cost.

    ``complete`` is False when the call stopped early: the answer outgrew ``max_bytes`` (then ``states``
    is empty and ``bytes`` is what was read before stopping), or the pages budget ran out before every
    wanted job was seen (then ``states`` holds what the pages read had).
    """

    states: list[BulkInsertState] = field(default_factory=list)
    complete: bool = True
    pages: int = 1
    bytes: int = 0
    #: The number of jobs in the list's scope where the API says (Zilliz Cloud ``count``).
    total: int | None = None


@dataclass(frozen=True)
class ListBudget:
    """How far one list may go: bytes read, pages read, and (paged APIs) the jobs whose sight ends it early."""

    max_bytes: int | None = None
    max_pages: int | None = None
    wanted: frozenset[str] = frozenset()


UNBOUNDED: Final = ListBudget()
