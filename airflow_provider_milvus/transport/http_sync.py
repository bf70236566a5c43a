"""Blocking HTTP transport on one ``requests.Session`` (a pooled keep-alive connection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_milvus.exceptions import MilvusImportError
from airflow_provider_milvus.protocol.base import HttpRequest, HttpResponse
from airflow_provider_milvus.transport.errors import network_error
from airflow_provider_milvus.transport.http_body import BoundedBody

if TYPE_CHECKING:
    import requests


class SyncHttpTransport:
    """POSTs requests and returns the status, headers and (bounded) body; raises only for network faults."""

    def __init__(self, verify: bool | str = True, session: requests.Session | None = None) -> None:
        # Imported here, not at module level: the triggerer imports this module too (through the client)
        # but never sends a blocking request, and importing requests holds its event loop ~0.1 s.
        import requests

        self.session = session or requests.Session()
        # Passed on every request: a session-level verify loses to REQUESTS_CA_BUNDLE (requests issue 3829).
        self.verify = verify

    def send(self, request: HttpRequest) -> HttpResponse:
        """One round trip; body reading stops one byte past ``max_response_bytes``."""
        try:
            with self.session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=request.timeout,
                stream=True,
                allow_redirects=False,
                verify=self.verify,
            ) as answer:
                body = BoundedBody(request.max_response_bytes)
                for chunk in answer.iter_content(chunk_size=65536):
                    if body.add(chunk):
                        break
                return body.response(answer.status_code, answer.headers)
        except MilvusImportError:
            raise
        except Exception as error:
            raise network_error(error, request.server, request.job_id) from error

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()
