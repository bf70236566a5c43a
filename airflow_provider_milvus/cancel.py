"""Cancelling an import when its task is killed or cleared: abort where the server can, else say so.

Only two-phase imports (Milvus 3.0+) can be abandoned; older servers run an accepted import to its
end, and the hook says so with a ``MilvusImportError``, which reads here as "cannot cancel".
"""

from __future__ import annotations

from typing import Any

from airflow_provider_milvus.exceptions import MilvusImportError

CANNOT_CANCEL = "Milvus cannot cancel a running import: job %s runs on to its end on the server (%s)"


def abort_or_explain(hook: Any, job_id: str, db_name: str | None, log: Any) -> bool:
    """Abort the job; True when the server took it, False (and a warning saying why) otherwise."""
    abort = getattr(hook, "abort_import", None)
    if abort is None:
        log.warning(CANNOT_CANCEL, job_id, "this provider has no abort")
        return False
    try:
        abort(job_id, db_name)
    except MilvusImportError as error:
        log.warning(CANNOT_CANCEL, job_id, error)
        return False
    log.info("Aborted import job %s", job_id)
    return True


async def aabort_or_explain(hook: Any, job_id: str, db_name: str | None, log: Any) -> bool:
    """Async twin of :func:`abort_or_explain`, for the triggerer."""
    abort = getattr(hook, "aabort_import", None)
    if abort is None:
        log.warning(CANNOT_CANCEL, job_id, "this provider has no abort")
        return False
    try:
        await abort(job_id, db_name)
    except MilvusImportError as error:
        log.warning(CANNOT_CANCEL, job_id, error)
        return False
    log.info("Aborted import job %s", job_id)
    return True
