"""Cancelling an import when its task is killed or cleared: abort where the server can, else say so.

Only two-phase imports (Milvus 3.0+) can be abandoned; older servers run an accepted import to its
end, and the hook says so with a ``MilvusImportError``, which reads here as "cannot cancel". The hook's
abort methods are called by name: a hook without them is a bug that must fail, not a silent no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_milvus.exceptions import MilvusImportError

if TYPE_CHECKING:
    from airflow_provider_milvus.hooks.milvus_import import MilvusImportHook

CANNOT_CANCEL = "Milvus cannot cancel a running import: job %s runs on to its end on the server (%s)"


def abort_or_explain(hook: MilvusImportHook, job_id: str, db_name: str | None, log: Any) -> bool:
    """Abort the job; True when the server took it, False (and a warning saying why) otherwise."""
    try:
        hook.abort_import(job_id, db_name)
    except MilvusImportError as error:
        log.warning(CANNOT_CANCEL, job_id, error)
        return False
    log.info("Aborted import job %s", job_id)
    return True


async def aabort_or_explain(hook: MilvusImportHook, job_id: str, db_name: str | None, log: Any) -> bool:
    """Async twin of :func:`abort_or_explain`, for the triggerer."""
    try:
        await hook.aabort_import(job_id, db_name)
    except MilvusImportError as error:
        log.warning(CANNOT_CANCEL, job_id, error)
        return False
    log.info("Aborted import job %s", job_id)
    return True
