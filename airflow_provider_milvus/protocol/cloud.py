"""Zilliz Cloud control-plane import jobs: build requests, parse answers. No I/O.

The cloud's progress answers share the REST v2 shape (and an older one), so
they are read by :func:`rest.parse_progress_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.protocol import errors
from airflow_provider_milvus.protocol.arguments import ImportArgs, check_name
from airflow_provider_milvus.protocol.base import HttpOperation, HttpRequest, HttpResponse, Sleep
from airflow_provider_milvus.protocol.listing import UNBOUNDED, ListBudget, Listing
from airflow_provider_milvus.protocol.rest import (
    PREFIX,
    TWO_PHASE_PROBE_ID,
    _Reader,
    decode_envelope,
    encode,
    parse_list_records,
    parse_progress_data,
    probe_two_phase,
    require_object,
    two_phase_call,
    with_key,
)
from airflow_provider_milvus.state import BulkInsertState

PAGE_SIZE: Final = 100
#: Zilliz Cloud allows 20 requests per second per user and endpoint: pages are spaced to stay below it.
PAGE_INTERVAL: Final = 0.06
MAX_PAGES: Final = 1000
#: Zilliz Cloud documents getProgress; pymilvus 3.0 and the Go SDK read /describe: either may be the one served.
PROGRESS_ROUTES: Final = ("getProgress", "describe")
#: Option keys that belong at the top of a cloud ``create`` body (object storage credentials), not in options.
_CREDENTIAL_OPTIONS: Final = {
    "access_key": "accessKey",
    "accessKey": "accessKey",
    "secret_key": "secretKey",
    "secretKey": "secretKey",
    "token": "token",
}


def check_cloud_job_id(job_id: Any) -> str:
    """A Zilliz Cloud job id (``job-...``; not an integer) as a clean string."""
    if not isinstance(job_id, (str, int)) or isinstance(job_id, bool):
        raise exc.MilvusImportConfigError(f"job id must be a string, got {type(job_id).__name__}")
    text = str(job_id).strip()
    if not text:
        raise exc.MilvusImportConfigError("job id is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in text) or len(text) > 256:
        raise exc.MilvusImportConfigError(f"job id {errors.sanitize(text, 60)!r} is not a Zilliz Cloud job id")
    return text


@dataclass(frozen=True)
class BucketCredentials:
    """The keys of the bucket an import reads (S3 keys, or GCS HMAC keys): sent in the cloud ``create`` body.

    Never printed: ``repr`` names no key.
    """

    access_key: str
    secret_key: str
    token: str = ""

    def __post_init__(self) -> None:
        if not self.access_key or not self.secret_key:
            raise exc.MilvusImportConfigError("bucket credentials need an access key id and a secret access key")

    def __repr__(self) -> str:
        return "BucketCredentials(***)"

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the secret key and the session token (the access key id too)."""
        return tuple(s for s in (self.access_key, self.secret_key, self.token) if s)

    def body(self) -> dict[str, str]:
        """The request fields: ``accessKey``, ``secretKey`` and, for temporary credentials, ``token``."""
        fields = {"accessKey": self.access_key, "secretKey": self.secret_key}
        if self.token:
            fields["token"] = self.token
        return fields


class CloudProtocol:
    """Requests and answers of the Zilliz Cloud control plane for one cluster."""

    name = "cloud"

    def __init__(
        self, endpoint: str, *, api_key: str, cluster_id: str, db_name: str = "", timeout: float = 30.0
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._api_key = api_key
        self.cluster_id = cluster_id
        self.db_name = db_name
        self.timeout = timeout
        self.server = f"{self.endpoint} (cluster {cluster_id})"
        #: The progress route this cloud serves, once found (None: not yet asked).
        self.progress_route: str | None = None

    def __repr__(self) -> str:
        return f"CloudProtocol({self.endpoint!r}, cluster_id={self.cluster_id!r})"

    def request(self, route: str, body: Mapping[str, Any], *, job_id: str | None = None) -> HttpRequest:
        """A POST to one control-plane import route, with the cluster id in the body."""
        return HttpRequest(
            url=f"{self.endpoint}{PREFIX}/{route}",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self._api_key}",
            },
            body=encode({"clusterId": self.cluster_id, **body}),
            timeout=self.timeout,
            server=self.server,
            job_id=job_id,
        )

    def start_import(
        self,
        collection_name: str,
        files: Any,
        partition_name: str | None = None,
        db_name: str | None = None,
        options: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        credentials: BucketCredentials | None = None,
        volume_name: str | None = None,
    ) -> HttpOperation[str]:
        """``create``: files are object storage URLs (or, with ``volume_name``, the volume's data paths).

        The bucket's keys come from ``credentials`` (``accessKey``, ``secretKey``, ``token``), or from the
        older ``access_key``/``secret_key`` options, which move to the body. ``idempotency_key`` is sent as
        the ``Idempotency-Key`` header.
        """
        args = ImportArgs.check(collection_name, files, partition_name, db_name, options, default_db=self.db_name)
        body: dict[str, Any] = {"collectionName": args.collection_name}
        if volume_name is not None:
            volume = check_name(volume_name, "volume_name", required=True)
            if credentials is not None:
                raise exc.MilvusImportConfigError("an import from a volume takes no bucket credentials")
            body |= {"volumeName": volume, "dataPaths": args.units}
        else:
            body["objectUrls"] = args.units
        if args.partition_name:
            body["partitionName"] = args.partition_name
        if args.db_name:
            body["dbName"] = args.db_name
        opts = dict(args.options)
        for key, target in _CREDENTIAL_OPTIONS.items():
            if key in opts:
                body[target] = opts.pop(key)
        if credentials is not None:
            body |= credentials.body()
        if opts:
            body["options"] = opts
        response = yield with_key(self.request("create", body), idempotency_key)
        assert isinstance(response, HttpResponse)
        what = f"starting a Zilliz Cloud import into {body['collectionName']!r}"
        data = require_object(
            decode_envelope(response, what=what, server=self.server, job_id=None), what, server=self.server, job_id=None
        )
        job_id = _Reader(data, what, self.server, None).job_id("jobId", "jobID")
        if not job_id:
            raise errors.invalid_answer(what, "no 'jobId' in the answer", server=self.server, job_id=None)
        return job_id

    def get_import_state(self, job_id: str, db_name: str | None = None) -> HttpOperation[BulkInsertState]:
        """``getProgress`` (documented) or ``describe`` (what pymilvus 3.0 and the Go SDK post): the job's state.

        The first route that is served is remembered; job ids are cluster-wide.
        """
        job = check_cloud_job_id(job_id)
        what = "reading the Zilliz Cloud import job's progress"
        routes = [self.progress_route] if self.progress_route else list(PROGRESS_ROUTES)
        for route in routes:
            response = yield self.request(route, {"jobId": job}, job_id=job)
            assert isinstance(response, HttpResponse)
            if response.status == 404 and route != routes[-1]:
                continue  # this cloud serves the other route: try it, and remember the one that answers
            data = decode_envelope(response, what=what, server=self.server, job_id=job)
            self.progress_route = route
            return parse_progress_data(data, what=what, server=self.server, requested_job_id=job)
        raise AssertionError("unreachable: the last route's answer is decoded or raises")

    def commit_import(self, job_id: str, db_name: str | None = None) -> HttpOperation[None]:
        """``commit``, where the cloud has two-phase imports (a 404 says it has none)."""
        return (yield from self._two_phase_call("commit", "committing", job_id))

    def abort_import(self, job_id: str, db_name: str | None = None) -> HttpOperation[None]:
        """``abort``, where the cloud has two-phase imports."""
        return (yield from self._two_phase_call("abort", "aborting", job_id))

    def _two_phase_call(self, route: str, verb: str, job_id: str) -> HttpOperation[None]:
        job = check_cloud_job_id(job_id)
        return (yield from two_phase_call(self.request(route, {"jobId": job}, job_id=job), verb))

    def supports_two_phase(self) -> HttpOperation[bool]:
        """Whether the cloud routes ``commit`` (probed with a job id no job has)."""
        return (yield from probe_two_phase(self.request("commit", {"jobId": TWO_PHASE_PROBE_ID})))

    def list_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> HttpOperation[list[BulkInsertState]]:
        """``list``, every page, spaced to respect the cloud's rate limit."""
        return (yield from self.list_jobs(collection_name, db_name)).states

    def list_jobs(
        self,
        collection_name: str | None = None,
        db_name: str | None = None,
        budget: ListBudget = UNBOUNDED,
    ) -> HttpOperation[Listing]:
        """``list`` page by page, with its cost; stops once every job the budget wants was seen.

        Also stops (an incomplete Listing) when the budget's pages or bytes were read and the list has
        more. The cloud's list has no collection filter: the collection is picked here.
        """
        max_bytes, max_pages, wanted = budget.max_bytes, budget.max_pages, budget.wanted
        # Looking for a few jobs: pages of twice their number (room for jobs others started since) cost less
        # than 100 records each; the order is not specified, so the wanted jobs may still sit on later pages.
        page_size = min(PAGE_SIZE, 2 * len(wanted)) if wanted else PAGE_SIZE
        collection = check_name(collection_name, "collection_name", required=False)
        check_name(db_name, "db_name", required=False)
        what = "listing Zilliz Cloud import jobs"
        states: list[BulkInsertState] = []
        missing = set(wanted)
        size = 0
        total: int | None = None
        complete = False
        page = 0
        for page in range(1, min(MAX_PAGES, max_pages or MAX_PAGES) + 1):
            if page > 1:
                yield Sleep(PAGE_INTERVAL)
            response = yield self.request("list", {"pageSize": page_size, "currentPage": page})
            assert isinstance(response, HttpResponse)
            size += len(response.body)
            data = decode_envelope(response, what=what, server=self.server, job_id=None)
            records, total = parse_list_records(data, what=what, server=self.server)
            states.extend(records)
            missing.difference_update(s.task_id for s in records)
            if not records or len(records) < page_size or (total is not None and page * page_size >= total):
                complete = True
                break
            if wanted and not missing:
                break  # every wanted job seen: the rest of the pages cannot tell more about them
            if max_bytes is not None and size >= max_bytes:
                break
        if collection:
            states = [s for s in states if s.collection_name in ("", collection)]
        return Listing(states, complete=complete or bool(wanted and not missing), pages=page, bytes=size, total=total)
