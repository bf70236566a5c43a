"""Idempotency keys of ``create`` and which servers honour them. Pure.

Milvus 2.6.24+ and 3.0.2+ remember a ``create``'s key (REST header ``Idempotency-Key``, gRPC
``ImportRequest.idempotency_key``) for about 24 hours, per collection, and answer a second ``create``
with the same key with the first job's id instead of starting another import. Older servers ignore it.

A key names one import of one task instance: DAG, task, run, map index and the generation since the
task was last cleared (so clearing starts over), plus the *link*: 1 for the first import of the
generation, n for the import started after n - 1 imports of it failed (a retry must be able to start
anew after a failure, which one key alone never could on a server that honours it).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final

#: What the server accepts: printable ASCII, at most this many bytes.
MAX_KEY_BYTES: Final = 256
#: The REST header that carries the key.
HEADER: Final = "Idempotency-Key"
#: The first releases that act on the key (older servers ignore it; spec section 7).
HONOURED_FROM: Final = ((2, 6, 24), (3, 0, 2))
_PREFIX: Final = "airflow-milvus-1"
_VERSION: Final = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(.*)$")


def check_key(key: str) -> str:
    """``key`` if it is printable ASCII of 1 to 256 bytes, else a ValueError saying what is wrong."""
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"an idempotency key has 1 to {MAX_KEY_BYTES} bytes, got {len(key.encode())}")
    if not all(" " <= ch <= "~" for ch in key):
        raise ValueError("an idempotency key is printable ASCII only")
    return key


@dataclass(frozen=True)
class ImportIdentity:
    """What makes one task instance's import: the same for every try of it, different for anything else.

    ``generation`` changes when the task is cleared (see ``resume.generation``).
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    generation: str

    def key(self, link: int = 1) -> str:
        """The key of the ``link``-th import of this generation: a digest of the parts (any text, any length)."""
        if link < 1:
            raise ValueError(f"link counts from 1, got {link}")
        parts = [self.dag_id, self.task_id, self.run_id, self.map_index, self.generation]
        digest = hashlib.sha256(json.dumps(parts, ensure_ascii=True).encode()).hexdigest()
        return check_key(f"{_PREFIX}-{digest}-{link}")


def parse_version(text: str) -> tuple[int, int, int, int] | None:
    """``v2.6.24`` as (2, 6, 24, 1); a pre-release or build suffix (``v3.0.2-rc1``) ends in 0: before the release."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3]), 0 if match[4] else 1


def honours_keys(version: str) -> bool:
    """True when a server reporting ``version`` acts on idempotency keys (2.6.24+ on 2.6, 3.0.2+ on 3.x).

    Unknown or unparsable versions count as not honouring: then a retry searches instead of resending.
    """
    parsed = parse_version(version)
    if parsed is None:
        return False
    v26, v30 = ((*first, 1) for first in HONOURED_FROM)
    return v26 <= parsed < (2, 7, 0, 0) or parsed >= v30
