"""MilvusImportHook: an Airflow ``milvus`` connection as a client for Milvus and Zilliz Cloud bulk imports."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_milvus.client import AsyncMilvusImportClient, MilvusImportClient
from airflow_provider_milvus.exceptions import MilvusImportConfigError, MilvusImportError
from airflow_provider_milvus.protocol.cloud import BucketCredentials
from airflow_provider_milvus.settings import PROTOCOLS, MilvusSettings, parse_settings
from airflow_provider_milvus.state import BulkInsertState

#: What Airflow 2.11's connection form puts for a secret it does not show, and swaps back for the stored one on save
#: (``airflow.www.views.SENSITIVE_FIELD_PLACEHOLDER``).
_SENSITIVE_FIELD_PLACEHOLDER = "RATHER_LONG_SENSITIVE_FIELD_PLACEHOLDER"


def _no_loop() -> asyncio.AbstractEventLoop | None:
    """The owner of no client."""
    return None


async def _close_at_loop_shutdown(client: AsyncMilvusImportClient) -> AsyncGenerator[None, None]:
    """Parked once on the client's loop; the loop's shutdown of async generators runs the close."""
    try:
        yield
    finally:
        await client.aclose()


def _mask(settings: MilvusSettings, password: str | None) -> None:
    """Register every secret the connection yields with Airflow's secret masker."""
    try:
        from airflow.providers.common.compat.sdk import mask_secret
    except ImportError:  # pragma: no cover - every supported Airflow has it
        return
    for secret in (*settings.secrets, password):
        if secret:
            mask_secret(secret)


class MilvusImportHook(BaseHook):
    """Start, read and list Milvus bulk imports over gRPC, the RESTful API v2 or Zilliz Cloud.

    :param milvus_conn_id: the ``milvus`` connection to use.
    :param protocol: overrides the connection's ``protocol`` (``auto``, ``grpc``, ``rest``, ``cloud``);
        operators pass on what they already resolved so triggers skip detection.
    """

    conn_name_attr = "milvus_conn_id"
    default_conn_name = "milvus_default"
    conn_type = "milvus"
    hook_name = "Milvus"

    def __init__(self, milvus_conn_id: str = default_conn_name, *, protocol: str | None = None) -> None:
        super().__init__()
        if protocol is not None and protocol not in PROTOCOLS:
            raise MilvusImportConfigError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        self.milvus_conn_id = milvus_conn_id
        self.protocol_override = protocol
        self._client: MilvusImportClient | None = None
        self._async_client: AsyncMilvusImportClient | None = None
        self._async_loop: Callable[[], asyncio.AbstractEventLoop | None] = _no_loop
        self._async_closer: AsyncGenerator[None, None] | None = None

    # -- settings -------------------------------------------------------------------------

    def settings_from_connection(self, conn: Any, extra: Mapping[str, Any]) -> MilvusSettings:
        """Read a Connection's fields (UI form, URI or JSON form) into checked settings."""
        fields: Any = extra
        if self.protocol_override and self.protocol_override != "auto" and isinstance(extra, Mapping):
            fields = {**extra, "protocol": self.protocol_override}
        try:
            settings = parse_settings(
                host=conn.host,
                port=conn.port,
                login=conn.login,
                password=conn.password,
                schema=conn.schema,
                extra=fields,
            )
        except MilvusImportConfigError as error:
            raise MilvusImportConfigError(f"connection {self.milvus_conn_id!r}: {error}") from None
        _mask(settings, conn.password)
        return settings

    def get_settings(self) -> MilvusSettings:
        """The connection's settings (blocking lookup)."""
        conn = self.get_connection(self.milvus_conn_id)
        return self.settings_from_connection(conn, conn.extra_dejson)

    async def aget_settings(self) -> MilvusSettings:
        """The connection's settings, looked up without blocking the event loop."""
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(self.milvus_conn_id, self)
        return self.settings_from_connection(conn, await get_async_extra_dejson(conn))

    # -- clients --------------------------------------------------------------------------

    def get_conn(self) -> MilvusImportClient:
        """The blocking client, made once per hook."""
        if self._client is None:
            self._client = MilvusImportClient(self.get_settings())
        return self._client

    async def aget_conn(self) -> AsyncMilvusImportClient:
        """The async client of the running event loop, made once per loop (one pool or channel across polls).

        An async client belongs to the loop that made it (its sockets and channel do): a call from
        another loop, e.g. a second ``asyncio.run``, gets a new client, and the old one is dropped safely.
        """
        loop = asyncio.get_running_loop()
        if self._async_client is not None and self._async_loop() is not loop:
            self._drop_async_client()
        if self._async_client is None:
            client = AsyncMilvusImportClient(await self.aget_settings())
            if self._async_client is None:  # another task of this loop may have made one meanwhile
                self._async_client, self._async_loop = client, weakref.ref(loop)
                # Closed by the loop's shutdown (asyncio.run's shutdown_asyncgens): no socket outlives its loop.
                self._async_closer = _close_at_loop_shutdown(client)
                await self._async_closer.__anext__()
        return self._async_client

    def _drop_async_client(self) -> None:
        """Let go of a client made on another loop: closed there if that loop still runs, else just released."""
        client, owner = self._async_client, self._async_loop()
        self._async_client, self._async_loop, self._async_closer = None, _no_loop, None
        if client is None or owner is None or owner.is_closed():
            return  # its loop is gone: nothing can run on it any more, its sockets close with it
        if owner.is_running():
            asyncio.run_coroutine_threadsafe(client.aclose(), owner)

    @property
    def protocol(self) -> str:
        """The API this connection speaks (``auto`` resolved by asking the server once)."""
        return self.get_conn().resolve_protocol()

    async def aprotocol(self) -> str:
        """Async twin of :attr:`protocol`."""
        client = await self.aget_conn()
        return await client.resolve_protocol()

    # -- the contract's methods ------------------------------------------------------------

    def start_import(
        self,
        collection_name: str,
        files: list[str] | list[list[str]],
        partition_name: str | None = None,
        db_name: str | None = None,
        options: dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        credentials: BucketCredentials | None = None,
        volume_name: str | None = None,
    ) -> str:
        """Start a bulk import and return its job id.

        :param idempotency_key: sent with ``create``; a server that honours it (2.6.24+, 3.0.2+) answers the
            first job for a key it has seen instead of starting another import.
        :param credentials: the bucket's keys (Zilliz Cloud), e.g. from ``storage.bucket_credentials``.
        :param volume_name: import from this Zilliz Cloud volume; ``files`` are its data paths.
        """
        job_id = self.get_conn().start_import(
            collection_name,
            files,
            partition_name,
            db_name,
            options,
            idempotency_key=idempotency_key,
            credentials=credentials,
            volume_name=volume_name,
        )
        self.log.info("Milvus accepted the import into %r as job %s", collection_name, job_id)
        return job_id

    def honours_idempotency_keys(self) -> bool:
        """Whether the server answers a repeated idempotency key with the first job (asks its version only)."""
        honoured = self.get_conn().honours_idempotency_keys()
        self.log.info("Idempotency keys honoured by the server (2.6.24+, 3.0.2+): %s", honoured)
        return honoured

    def get_import_state(self, job_id: str, db_name: str | None = None) -> BulkInsertState:
        """The job's state now (``db_name``: the job's database when not the connection's)."""
        return self.get_conn().get_import_state(job_id, db_name)

    def list_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> list[BulkInsertState]:
        """The jobs the server knows, optionally of one collection."""
        return self.get_conn().list_import_states(collection_name, db_name)

    async def astart_import(
        self,
        collection_name: str,
        files: list[str] | list[list[str]],
        partition_name: str | None = None,
        db_name: str | None = None,
        options: dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        credentials: BucketCredentials | None = None,
        volume_name: str | None = None,
    ) -> str:
        """Async twin of :meth:`start_import`."""
        client = await self.aget_conn()
        call = (collection_name, files, partition_name, db_name, options)
        return await client.start_import(
            *call, idempotency_key=idempotency_key, credentials=credentials, volume_name=volume_name
        )

    async def aget_import_state(self, job_id: str, db_name: str | None = None) -> BulkInsertState:
        """Async twin of :meth:`get_import_state`."""
        client = await self.aget_conn()
        return await client.get_import_state(job_id, db_name)

    async def alist_import_states(
        self, collection_name: str | None = None, db_name: str | None = None
    ) -> list[BulkInsertState]:
        """Async twin of :meth:`list_import_states`."""
        client = await self.aget_conn()
        return await client.list_import_states(collection_name, db_name)

    def commit_import(self, job_id: str, db_name: str | None = None) -> None:
        """Publish a staged two-phase import (Milvus 3.0+); a server without two-phase imports raises, saying so."""
        self.get_conn().commit_import(job_id, db_name)
        self.log.info("Milvus accepted the commit of import job %s", job_id)

    def abort_import(self, job_id: str, db_name: str | None = None) -> None:
        """Abandon an import job (Milvus 3.0+); a server without two-phase imports raises, saying so."""
        self.get_conn().abort_import(job_id, db_name)
        self.log.info("Milvus accepted the abort of import job %s", job_id)

    def supports_two_phase(self) -> bool:
        """Whether the server has two-phase imports (``auto_commit``, commit, abort: Milvus 3.0+)."""
        return self.get_conn().supports_two_phase()

    async def acommit_import(self, job_id: str, db_name: str | None = None) -> None:
        """Async twin of :meth:`commit_import`."""
        client = await self.aget_conn()
        await client.commit_import(job_id, db_name)

    async def aabort_import(self, job_id: str, db_name: str | None = None) -> None:
        """Async twin of :meth:`abort_import`."""
        client = await self.aget_conn()
        await client.abort_import(job_id, db_name)

    async def asupports_two_phase(self) -> bool:
        """Async twin of :meth:`supports_two_phase`."""
        client = await self.aget_conn()
        return await client.supports_two_phase()

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: reach the server, find its API and list its import jobs."""
        try:
            client = self.get_conn()
            protocol = client.resolve_protocol()
            jobs = client.list_import_states()
        except MilvusImportError as error:
            return False, str(error)
        except Exception as error:  # the Test button must answer, whatever went wrong
            return False, f"{type(error).__name__}: {error}"
        finally:
            self.close()
        server = client.settings.server
        return True, f"Connected to {server} over {protocol}: {len(jobs)} import job(s) visible"

    def close(self) -> None:
        """Close the blocking client's sockets."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the async client's sockets or channel (from its own loop; from another one, drop it safely)."""
        if self._async_client is None:
            return
        if self._async_loop() is not asyncio.get_running_loop():
            self._drop_async_client()
            return
        client, closer = self._async_client, self._async_closer
        self._async_client, self._async_loop, self._async_closer = None, _no_loop, None
        await client.aclose()
        if closer is not None:
            await closer.aclose()

    # -- the connection form (Airflow before 3.2; 3.2+ reads conn-fields from provider info) ---

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form from ``CONN_FIELDS`` (wtforms; absent on Airflow 3.3, so import-safe).

        Airflow 2.11 renders them in its Flask AppBuilder form; 3.0 and 3.1 turn them into the React
        form's JSON schema (an ``any_of`` validator becomes a dropdown there).
        """
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import BooleanField, PasswordField, StringField
            from wtforms.validators import Optional, any_of
        except ImportError:
            return {}
        from airflow_provider_milvus.get_provider_info import CONN_FIELDS

        class SecretInput(BS3PasswordFieldWidget):  # type: ignore[misc,valid-type]
            """A stored secret shows as Airflow 2's placeholder (never in clear): saving the form unchanged keeps it.

            A plain password input renders empty, and Airflow 2.11 then deletes the secret on save.
            """

            def __call__(self, field: Any, **kwargs: Any) -> Any:
                kwargs["value"] = _SENSITIVE_FIELD_PLACEHOLDER if field.data else ""
                return super().__call__(field, **kwargs)

        secret_input = SecretInput()
        secret_input.hide_value = False  # the value is set above: the placeholder or nothing
        widgets: dict[str, Any] = {}
        for key, spec in CONN_FIELDS.items():
            label = lazy_gettext(spec["label"])
            description = spec.get("description", "")
            schema = spec["schema"]
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if schema.get("format") == "password":
                widgets[key] = PasswordField(label, widget=secret_input, description=description)
            elif "boolean" in types:
                widgets[key] = BooleanField(label, default=False, description=description)
            else:
                validators = [Optional(), any_of(schema["enum"])] if "enum" in schema else None
                widgets[key] = StringField(
                    label, widget=BS3TextFieldWidget(), description=description, validators=validators
                )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled standard fields and placeholders of the form before Airflow 3.2 (its keys are snake_case).

        Only Schema is hidden there (the database is the extra ``db_name``, one field as on 3.2+): Airflow
        2.11's Test button fails in its JavaScript when Extra is hidden.
        """
        from airflow_provider_milvus.get_provider_info import UI_FIELD_BEHAVIOUR

        legacy = {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}
        return {**legacy, "hidden_fields": [f for f in UI_FIELD_BEHAVIOUR["hidden-fields"] if f != "extra"]}
