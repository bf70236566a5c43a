"""Milvus RESTful API v2 import jobs (Milvus 2.4+): build requests, parse answers. No I/O.

The progress parser here also reads Zilliz Cloud's answers, which share the
shape: one parser for both, and for the sync and async paths alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from airflow_provider_milvus import exceptions as exc
from airflow_provider_milvus.protocol import errors
from airflow_provider_milvus.protocol.arguments import ImportArgs, check_name, check_numeric_job_id
from airflow_provider_milvus.protocol.base import MAX_RESPONSE_BYTES, HttpOperation, HttpRequest, HttpResponse
from airflow_provider_milvus.protocol.idempotency import HEADER as KEY_HEADER
from airflow_provider_milvus.protocol.idempotency import check_key
from airflow_provider_milvus.protocol.listing import UNBOUNDED, ListBudget, Listing
from airflow_provider_milvus.state import (
    COMPLETED,
    FAILED,
    STARTED,
    UNKNOWN,
    BulkInsertState,
    format_create_time,
    rest_state_code,
)

PREFIX: Final = "/v2/vectordb/jobs/import"
NO_TWO_PHASE: Final = "the server has no two-phase imports (commit and abort need Milvus 3.0 or later)"
#: A jobId no server can hold: the probe of the commit route never touches a job (3.0 answers 1100, older 404).
TWO_PHASE_PROBE_ID: Final = "two-phase-probe"
_DETAIL_KEYS: Final = (
    "fileName",
    "fileSize",
    "state",
    "progress",
    "importedRows",
    "totalRows",
    "reason",
    "completeTime",
)
_QUOTED: Final = re.compile(r'"([^"]*)"')


# --------------------------------------------------------------------------- reading JSON


def decode_envelope(response: HttpResponse, *, what: str, server: str, job_id: str | None) -> Any:
    """Check status, size and JSON of an answer and return its ``data`` (None when absent).

    HTTP errors, non-zero ``code`` values (``0`` and the early ``200`` both mean
    success) and unreadable bodies all raise the matching MilvusImportError.
    """
    body = response.body
    if response.status != 200:
        raise errors.http_status_error(
            response.status,
            body[:500].decode("utf-8", "replace"),
            response.headers,
            server=server,
            job_id=job_id,
            what=what,
        )
    if len(body) > MAX_RESPONSE_BYTES:
        raise errors.invalid_answer(
            what, f"the answer is larger than {MAX_RESPONSE_BYTES} bytes", server=server, job_id=job_id
        )
    if not body.strip():
        raise errors.invalid_answer(what, "the answer is empty", server=server, job_id=job_id)
    try:
        payload = loads(body)
    except (UnicodeDecodeError, ValueError):
        raise errors.invalid_answer(what, "not JSON", server=server, job_id=job_id, body=body) from None
    except RecursionError:
        raise errors.invalid_answer(what, "JSON nested too deeply", server=server, job_id=job_id) from None
    if not isinstance(payload, dict):
        raise errors.invalid_answer(
            what,
            f"a JSON {type(payload).__name__} where an object was expected",
            server=server,
            job_id=job_id,
            body=body,
        )
    code = payload.get("code")
    if isinstance(code, str) and errors.is_ascii_digits(code.strip().lstrip("-")):
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        raise errors.invalid_answer(what, "no integer 'code' in the answer", server=server, job_id=job_id, body=body)
    if code not in (0, 200):
        message = payload.get("message")
        raise errors.milvus_code_error(
            code, message if isinstance(message, str) else "", server=server, job_id=job_id, what=what
        )
    return payload.get("data")


#: Answers above this many bytes are decoded record by record (list answers of busy servers).
SLICED_JSON_BYTES: Final = 256 * 1024
_RECORDS: Final = re.compile(r'"records"\s*:\s*\[')
_DECODER: Final = json.JSONDecoder()
_BLANK: Final = " \t\n\r"


def loads(body: bytes) -> Any:
    """``json.loads`` of an answer; a long ``records`` array is decoded one record at a time.

    One C-level ``json.loads`` of a 20,000-job list holds the interpreter ~30 ms; record by record, a thread
    that parses it lets the event loop run between records. Same result as ``json.loads``.
    """
    if len(body) <= SLICED_JSON_BYTES:
        return json.loads(body)
    text = body.decode("utf-8")
    found = _RECORDS.search(text)
    if found is None:
        return json.loads(text)
    records: list[Any] = []
    index = found.end()
    while True:
        while index < len(text) and text[index] in _BLANK:
            index += 1
        if text.startswith("]", index):
            break
        record, index = _DECODER.raw_decode(text, index)
        records.append(record)
        while index < len(text) and text[index] in _BLANK:
            index += 1
        if text.startswith(",", index):
            index += 1
        elif not text.startswith("]", index):
            raise ValueError("a records array that is not JSON")
    payload = json.loads(text[: found.end()] + text[index:])  # the envelope with an empty records array
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or data.get("records") != []:
        return json.loads(text)  # "records" was not where a list answer has it: decode it whole
    data["records"] = records
    return payload


def require_object(data: Any, what: str, *, server: str, job_id: str | None) -> dict[str, Any]:
    """``data`` as a JSON object, or an invalid-answer error."""
    if not isinstance(data, dict):
        problem = "no 'data' object" if data is None else f"'data' is a JSON {type(data).__name__}, not an object"
        raise errors.invalid_answer(what, problem, server=server, job_id=job_id)
    return data


class _Reader:
    """Typed access to one JSON object of an answer; wrong types raise an invalid-answer error."""

    def __init__(self, data: Mapping[str, Any], what: str, server: str, job_id: str | None) -> None:
        self.data, self.what, self.server, self.context_job = data, what, server, job_id

    def bad(self, key: str, expected: str) -> exc.MilvusImportError:
        value = self.data.get(key)
        return errors.invalid_answer(
            self.what,
            f"{key!r} should be {expected}, got {type(value).__name__} {errors.sanitize(repr(value), 60)}",
            server=self.server,
            job_id=self.context_job,
        )

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.bad(key, "a string")
        return value

    def count(self, key: str) -> int | None:
        """A non-negative integer, sent as a JSON integer or a decimal string."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str) and errors.is_ascii_digits(value.strip()):
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, float) and value.is_integer() and 0 <= value < 2**53:
            return int(value)
        raise self.bad(key, "a non-negative integer")

    def percent(self, key: str, scale: float = 1.0) -> int | None:
        """A progress value in 0..100 (``scale`` 100 reads a 0..1 fraction)."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self.bad(key, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(key, "a number")
        try:
            percent = value * scale
        except OverflowError:
            raise self.bad(key, f"within 0..{100 / scale:g}") from None
        if not 0 <= percent <= 100:
            raise self.bad(key, f"within 0..{100 / scale:g}")
        return int(percent)

    def job_id(self, *keys: str) -> str | None:
        """A job id kept as a string: decimal strings and JSON integers are exact, JSON floats are refused."""
        for key in keys:
            value = self.data.get(key)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                return value.strip()
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
            raise self.bad(key, "a string or an integer (a JSON float cannot hold an int64 id exactly)")
        return None

    def items(self, key: str) -> list[dict[str, Any]]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.bad(key, "a list of objects")
        return value


def _timestamp(text: str) -> int:
    """Seconds since the epoch from an ISO 8601 time or epoch digits, 0 if unreadable."""
    text = text.strip()
    if not text:
        return 0
    if errors.is_ascii_digits(text):
        value = int(text)
        return value // 1000 if value > 10**11 else value
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def file_paths(file_name: str) -> list[str]:
    """The data file paths named by a REST ``fileName``: 2.4.0's protobuf text ``id:1 paths:"a" ``, 2.5+'s ``[a b]``."""
    quoted = _QUOTED.findall(file_name)
    if quoted:
        return [q for q in quoted if q]
    stripped = file_name.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        # Milvus 2.5+ writes Go's %v of the unit: ``[a/1.npy b/2.npy]``, paths separated by spaces; a comma
        # is part of a path (Go never writes one between elements).
        return stripped[1:-1].split()
    return [stripped] if stripped else []


# --------------------------------------------------------------------------- progress


def parse_progress_data(
    data: Any,
    *,
    what: str,
    server: str,
    requested_job_id: str,
    partition_name: str = "",
) -> BulkInsertState:
    """A REST v2 / Zilliz Cloud progress ``data`` object as a BulkInsertState.

    Reads the current shape (``state``, ``progress`` 0..100, ``reason``) and the
    older Zilliz Cloud one (``readyPercentage`` 0..1, ``errorMessage``, no state).
    """
    obj = require_object(data, what, server=server, job_id=requested_job_id)
    r = _Reader(obj, what, server, requested_job_id)
    task_id = r.job_id("jobId", "jobID") or requested_job_id
    reason = r.text("reason") or r.text("errorMessage")
    progress = r.percent("progress")
    state_name = r.text("state")
    if state_name:
        state = rest_state_code(state_name)
    elif "readyPercentage" in obj or "errorMessage" in obj:
        # The older cloud shape has no state: only its own readyPercentage (0..1) says it is done.
        ready = r.percent("readyPercentage", scale=100.0)
        progress = ready if ready is not None else progress
        state = FAILED if reason else COMPLETED if ready == 100 else STARTED
    else:
        state = UNKNOWN
    if state == COMPLETED and progress is None:
        progress = 100

    details: list[dict[str, Any]] = []
    files: list[str] = []
    for item in r.items("details"):
        d = _Reader(item, what, server, requested_job_id)
        name = d.text("fileName")
        files.extend(file_paths(name))
        detail_progress = d.percent("progress")
        if detail_progress is None:
            detail_progress = d.percent("readyPercentage", scale=100.0)
        details.append(
            {
                "fileName": name,
                "fileSize": d.count("fileSize"),
                "state": d.text("state"),
                "progress": detail_progress,
                "importedRows": d.count("importedRows"),
                "totalRows": d.count("totalRows"),
                "reason": d.text("reason") or d.text("errorMessage"),
                "completeTime": d.text("completeTime"),
            }
        )
    if not files and r.text("fileName"):
        files = file_paths(r.text("fileName"))

    collection = r.text("collectionName")
    create_ts = _timestamp(r.text("createTime"))
    progress = progress or 0
    infos = {
        "files": ",".join(files),
        "collection": collection,
        "failed_reason": reason,
        "progress_percent": str(progress),
    }
    if partition_name:
        infos["partition"] = partition_name
    return BulkInsertState(
        task_id=task_id,
        state=state,
        row_count=r.count("importedRows") or 0,
        total_rows=r.count("totalRows"),
        progress=progress,
        infos=infos,
        failed_reason=reason,
        collection_name=collection,
        partition_name=partition_name,
        files=files,
        create_timestamp=create_ts,
        create_time_str=format_create_time(create_ts),
        complete_time=r.text("completeTime"),
        file_size=r.count("fileSize"),
        details=details,
        server_state=state_name,
    )


def parse_list_records(
    data: Any, *, what: str, server: str, collection_name: str | None = None
) -> tuple[list[BulkInsertState], int | None]:
    """``records`` of a list answer as BulkInsertStates, with the total ``count`` where the API says."""
    obj = require_object(data, what, server=server, job_id=None)
    r = _Reader(obj, what, server, None)
    states = []
    for record in r.items("records"):
        rec = _Reader(record, what, server, None)
        if not rec.job_id("jobId", "jobID"):
            raise errors.invalid_answer(what, "a record without 'jobId'", server=server, job_id=None)
        states.append(
            parse_progress_data(record, what=what, server=server, requested_job_id=rec.job_id("jobId", "jobID") or "")
        )
    if collection_name:
        states = [s for s in states if s.collection_name in ("", collection_name)]
    return states, r.count("count")


# --------------------------------------------------------------------------- two-phase imports (3.0)


def two_phase_call(request: HttpRequest, verb: str) -> HttpOperation[None]:
    """POST a ``commit`` / ``abort``; a 404 means the server has no two-phase imports, said as such."""
    what = f"{verb} import job {request.job_id}"
    response = yield request
    assert isinstance(response, HttpResponse)
    if response.status == 404:
        raise exc.MilvusImportRouteNotFoundError(
            f"{what}: {NO_TWO_PHASE}", server=request.server, job_id=request.job_id, code="HTTP 404"
        )
    decode_envelope(response, what=what, server=request.server, job_id=request.job_id)
    return None


def probe_two_phase(request: HttpRequest) -> HttpOperation[bool]:
    """True when the ``commit`` route answers at all (any code), False on 404; other HTTP errors raise."""
    response = yield request
    assert isinstance(response, HttpResponse)
    if response.status == 404:
        return False
    if response.status != 200:  # refused credentials, an overloaded server: say so, learn nothing
        decode_envelope(response, what="asking for two-phase imports", server=request.server, job_id=None)
    return True


# --------------------------------------------------------------------------- requests


def with_key(request: HttpRequest, idempotency_key: str | None) -> HttpRequest:
    """``request`` with the ``Idempotency-Key`` header, when there is a key (checked: printable ASCII, 256 bytes)."""
    if idempotency_key is None:
        return request
    try:
        key = check_key(idempotency_key)
    except ValueError as error:
        raise exc.MilvusImportConfigError(str(error)) from None
    return replace(request, headers={**request.headers, KEY_HEADER: key})


def encode(body: Mapping[str, Any]) -> bytes:
    """JSON request body."""
    return json.dumps(body, separators=(",", ":")).encode()


class RestProtocol:
    """Requests and answers of ``/v2/vectordb/jobs/import/*`` for one Milvus server."""

    name = "rest"

    def __init__(self, base_url: str, *, token: str = "", db_name: str = "", timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.server = self.base_url
        self._token = token
        self.db_name = db_name
        self.timeout = timeout
        #: False once the server answered 404 for /describe: use /get_progress from then on.
        self.describe_routed = True

    def __repr__(self) -> str:
        return f"RestProtocol({self.base_url!r}, db_name={self.db_name!r})"

    def headers(self, db_name: str) -> dict[str, str]:
        """Auth, database and timeout headers (Milvus reads describe's database only from DB-Name)."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Request-Timeout": str(max(1, int(self.timeout))),
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if db_name:
            headers["DB-Name"] = db_name
        return headers

    def request(
        self, route: str, body: Mapping[str, Any], *, db_name: str = "", job_id: str | None = None
    ) -> HttpRequest:
        """A POST to one import route."""
        return HttpRequest(
            url=f"{self.base_url}{PREFIX}/{route}",
            headers=self.headers(db_name or self.db_name),
            body=encode(body),
            timeout=self.timeout,
            server=self.server,
            job_id=job_id,
        )

    # -- operations -----------------------------------------------------------

    def start_import(
        self,
        collection_name: str,
        files: Any,
        partition_name: str | None = None,
        db_name: str | None = None,
        options: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> HttpOperation[str]:
        """``create``: start one job over all units of ``files``; returns its id.

        ``idempotency_key`` goes in the ``Idempotency-Key`` header (2.6.24+ answer the first job for it).
        """
        args = ImportArgs.check(collection_name, files, partition_name, db_name, options, default_db=self.db_name)
        body: dict[str, Any] = {"collectionName": args.collection_name, "files": args.units}
        if args.partition_name:
            body["partitionName"] = args.partition_name
        if args.db_name:
            body["dbName"] = args.db_name
        if args.options:
            body["options"] = args.options
        response = yield with_key(self.request("create", body, db_name=args.db_name), idempotency_key)
        assert isinstance(response, HttpResponse)
        what = f"starting an import into {body['collectionName']!r}"
        data = require_object(
            decode_envelope(response, what=what, server=self.server, job_id=None), what, server=self.server, job_id=None
        )
        job_id = _Reader(data, what, self.server, None).job_id("jobId", "jobID")
        if not job_id:
            raise errors.invalid_answer(what, "no 'jobId' in the answer", server=self.server, job_id=None)
        return job_id

    def get_import_state(self, job_id: str, db_name: str | None = None) -> HttpOperation[BulkInsertState]:
        """``describe`` (or ``get_progress`` where describe is not routed): the job's state.

        The server reads the job's database only from the ``DB-Name`` header.
        """
        job = check_numeric_job_id(job_id, "Milvus REST")
        db = check_name(db_name, "db_name", required=False)
        what = "reading the import job's progress"
        while True:
            route = "describe" if self.describe_routed else "get_progress"
            response = yield self.request(route, {"jobId": job}, db_name=db, job_id=job)
            assert isinstance(response, HttpResponse)
            if response.status == 404 and self.describe_routed:
                self.describe_routed = False  # an early 2.4 server: only get_progress exists
                continue
            data = decode_envelope(response, what=what, server=self.server, job_id=job)
            return parse_progress_data(data, what=what, server=self.server, requested_job_id=job)

    def commit_import(self, job_id: str, db_name: str | None = None) -> HttpOperation[None]:
        """``commit`` (Milvus 3.0): publish a staged (Uncommitted) job; Committing or Completed count as done."""
        return (yield from self._two_phase_call("commit", "committing", job_id, db_name))

    def abort_import(self, job_id: str, db_name: str | None = None) -> HttpOperation[None]:
        """``abort`` (Milvus 3.0): abandon a job."""
        return (yield from self._two_phase_call("abort", "aborting", job_id, db_name))

    def _two_phase_call(self, route: str, verb: str, job_id: str, db_name: str | None) -> HttpOperation[None]:
        job = check_numeric_job_id(job_id, "Milvus REST")
        db = check_name(db_name, "db_name", required=False)
        return (yield from two_phase_call(self.request(route, {"jobId": job}, db_name=db, job_id=job), verb))

    def supports_two_phase(self) -> HttpOperation[bool]:
        """Whether ``commit`` is routed: probed with a jobId no job has (3.0: code 1100; older servers: 404)."""
        return (yield from probe_two_phase(self.request("commit", {"jobId": TWO_PHASE_PROBE_ID})))

    def list_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> HttpOperation[list[BulkInsertState]]:
        """``list``: the jobs the server knows (no pagination in the API)."""
        return (yield from self.list_jobs(collection_name, db_name)).states

    def list_jobs(
        self,
        collection_name: str | None = None,
        db_name: str | None = None,
        budget: ListBudget = UNBOUNDED,
    ) -> HttpOperation[Listing]:
        """``list`` with its cost; stops reading (an incomplete Listing) past ``budget.max_bytes``.

        The budget's pages and wanted jobs concern paged APIs only: this list has no pages.
        """
        max_bytes = budget.max_bytes
        body: dict[str, Any] = {}
        collection = check_name(collection_name, "collection_name", required=False)
        db = check_name(db_name, "db_name", required=False) or self.db_name
        if collection:
            body["collectionName"] = collection
        if db:
            body["dbName"] = db
        request = self.request("list", body, db_name=db)
        if max_bytes is not None:
            request = replace(request, max_response_bytes=min(max_bytes, MAX_RESPONSE_BYTES))
        response = yield request
        assert isinstance(response, HttpResponse)
        if max_bytes is not None and response.status == 200 and len(response.body) > max_bytes:
            return Listing(complete=False, bytes=len(response.body))
        what = "listing import jobs"
        data = decode_envelope(response, what=what, server=self.server, job_id=None)
        states, total = parse_list_records(data, what=what, server=self.server, collection_name=collection)
        return Listing(states, bytes=len(response.body), total=total)
