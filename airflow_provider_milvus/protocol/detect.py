"""Finding out what a Milvus server speaks: RESTful API v2 (2.4+) or only gRPC (2.2, 2.3)."""

from __future__ import annotations

import json

from airflow_provider_milvus.protocol.base import HttpOperation, HttpResponse
from airflow_provider_milvus.protocol.rest import RestProtocol


def detect_protocol(rest: RestProtocol) -> HttpOperation[str]:
    """``"rest"`` when the server routes ``/v2/vectordb/jobs/import/list``, ``"grpc"`` when it answers 404.

    Milvus serves HTTP and gRPC on the same port; servers before 2.4 answer
    404 for the v2 import routes. A refusal of the credentials (401/403) still
    shows the route exists. Network faults propagate: nothing was learnt.
    """
    response = yield rest.request("list", {})
    assert isinstance(response, HttpResponse)
    if response.status in (401, 403):
        return "rest"
    if response.status != 200:
        return "grpc"
    try:
        payload = json.loads(response.body)
    except ValueError:
        return "grpc"
    return "rest" if isinstance(payload, dict) and "code" in payload else "grpc"
