"""MilvusImportEventTrigger against the REST emulator: one event per job that completes after the watcher began.

The ledger lives in a stand-in for Airflow 3.3's asset state store (what the triggerer injects as
``asset_state_store``) or, as on Airflow 3.0 to 3.2, in the trigger's memory. On Airflow 2.x the trigger
refuses to be built; only that is tested there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_provider_milvus.version_compat import HAS_ASSET_STATE_STORE, HAS_EVENT_TRIGGERS

LIST = "list"


def test_the_trigger_exists_from_airflow_3_and_refuses_before() -> None:
    from airflow_provider_milvus.triggers.milvus_import import MilvusImportEventTrigger

    if HAS_EVENT_TRIGGERS:
        from airflow.triggers.base import BaseEventTrigger

        assert isinstance(MilvusImportEventTrigger(collection_name="articles"), BaseEventTrigger)
    else:
        with pytest.raises(RuntimeError, match=r"needs Airflow 3\.0 or later"):
            MilvusImportEventTrigger(collection_name="articles")


if HAS_EVENT_TRIGGERS:
    from airflow_provider_milvus.triggers.milvus_import import MilvusImportEventTrigger
    from tests.emulator.server import ImportEmulator

    class FakeAssetStateStore:
        """Airflow 3.3's accessor of one watched asset: JSON values by key, async get and set."""

        _total = 1

        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        async def aget(self, key: str, default: Any = None) -> Any:
            return json.loads(self.values[key]) if key in self.values else default

        async def aset(self, key: str, value: Any) -> None:
            self.values[key] = json.dumps(value)

    class Watcher:
        """Runs one trigger in the background as the triggerer does; stop() cancels it like a shutdown."""

        def __init__(self, emulator: ImportEmulator, store: FakeAssetStateStore | None, **kwargs: Any) -> None:
            self.emulator = emulator
            self.trigger = MilvusImportEventTrigger(
                collection_name="articles", milvus_conn_id="milvus_watch", poll_interval=0.05, **kwargs
            )
            if store is not None:
                self.trigger.asset_state_store = store  # type: ignore[assignment]
            self.events: list[dict[str, Any]] = []
            self.task: asyncio.Task[None] | None = None

        async def _consume(self) -> None:
            run: AsyncIterator[Any] = self.trigger.run()
            async for event in run:
                self.events.append(event.payload)

        async def start(self) -> Watcher:
            self.task = asyncio.create_task(self._consume())
            await self.rounds(1)
            return self

        async def rounds(self, count: int) -> None:
            """Wait until the trigger has listed the collection ``count`` more times (and handled the answers)."""
            target = self.emulator.request_count(LIST) + count + 1  # +1: the round in flight is finished too
            await until(lambda: self.emulator.request_count(LIST) >= target, self)

        @property
        def announced(self) -> list[str]:
            return [event["job_id"] for event in self.events]

        async def stop(self) -> None:
            assert self.task is not None
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def completed(emulator: ImportEmulator, name: str) -> str:
        """A job into the watched collection that the server reports Completed from now on."""
        job_id = emulator.create_job("articles", [[f"{name}.parquet"]])
        emulator.finish_job(job_id)
        return job_id

    async def until(condition: Callable[[], bool], watcher: Watcher) -> None:
        for _ in range(3000):  # a hang guard only (about a minute), never a measured time
            if condition():
                return
            if watcher.task is not None and watcher.task.done():
                watcher.task.result()  # raise what ended the trigger
                raise AssertionError("the trigger stopped")
            await asyncio.sleep(0.02)
        raise AssertionError("the trigger did not list the collection again")

    @pytest.fixture
    def emulator(make_emulator: Callable[..., ImportEmulator], monkeypatch: pytest.MonkeyPatch) -> ImportEmulator:
        emulator = make_emulator(mode="rest", speed=0, job_duration=1000.0, rows_per_file=10)
        conn = {"conn_type": "milvus", "host": emulator.base_url, "extra": {"protocol": "rest"}}
        monkeypatch.setenv("AIRFLOW_CONN_MILVUS_WATCH", json.dumps(conn))
        return emulator

    def test_airflow_gives_a_watcher_a_state_store_from_3_3_only() -> None:
        """3.3's BaseEventTrigger has the slot the triggerer fills; 3.0 to 3.2 have none (memory is used)."""
        trigger = MilvusImportEventTrigger(collection_name="articles")
        assert hasattr(trigger, "asset_state_store") is HAS_ASSET_STATE_STORE

    def test_serialize_is_the_identity_only() -> None:
        trigger = MilvusImportEventTrigger(collection_name="articles", milvus_conn_id="m", db_name="d", poll_interval=5)
        path, kwargs = trigger.serialize()
        assert path == "airflow_provider_milvus.triggers.milvus_import.MilvusImportEventTrigger"
        assert kwargs == {"collection_name": "articles", "milvus_conn_id": "m", "db_name": "d", "poll_interval": 5.0}
        assert MilvusImportEventTrigger(**kwargs).serialize() == (path, kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "words"),
        [({"collection_name": ""}, "collection_name"), ({"collection_name": "a", "poll_interval": 0}, "poll_interval")],
    )
    def test_bad_settings_are_refused(kwargs: dict[str, Any], words: str) -> None:
        with pytest.raises(ValueError, match=words):
            MilvusImportEventTrigger(**kwargs)

    async def test_one_event_per_job_that_completes_after_the_watcher_began(emulator: ImportEmulator) -> None:
        before = completed(emulator, "old")
        running = emulator.create_job("articles", [["running.parquet"]])
        store = FakeAssetStateStore()
        watcher = await Watcher(emulator, store).start()
        try:
            fresh = emulator.create_job("articles", [["a.parquet"], ["b.parquet"]], partition_name="p1")
            failed = emulator.create_job("articles", [["bad.parquet"]])
            other = emulator.create_job("other", [["x.parquet"]])
            for job_id in (fresh, running, other):
                emulator.finish_job(job_id)
            emulator.fail_job(failed, "bad file")
            await watcher.rounds(3)
        finally:
            await watcher.stop()
        assert sorted(watcher.announced) == sorted([running, fresh])
        assert before not in watcher.announced  # it completed before the watcher began
        event = next(e for e in watcher.events if e["job_id"] == fresh)
        assert event["collection_name"] == "articles"
        assert event["partition_name"] == ""  # REST describe does not name the partition
        assert event["db_name"] == "default"
        assert event["row_count"] == 20
        assert event["state"]["state_name"] == "Completed"
        assert event["state"]["task_id"] == fresh
        assert len(event["files"]) == 2
        assert json.loads(json.dumps(event)) == event

    async def test_a_restart_delivers_what_completed_meanwhile_once_and_nothing_twice(emulator: ImportEmulator) -> None:
        store = FakeAssetStateStore()
        first = await Watcher(emulator, store).start()
        early = completed(emulator, "a")
        await first.rounds(2)
        await first.stop()  # the triggerer dies
        meanwhile = [emulator.create_job("articles", [[f"m{i}.parquet"]]) for i in range(3)]
        for job_id in meanwhile:
            emulator.finish_job(job_id)
        emulator.fail_job(emulator.create_job("articles", [["bad.parquet"]]))
        second = await Watcher(emulator, store).start()  # another triggerer takes the trigger over
        try:
            await second.rounds(3)
        finally:
            await second.stop()
        assert first.announced == [early]
        assert second.announced == meanwhile

    async def test_jobs_the_server_forgets_leave_the_stored_ledger(emulator: ImportEmulator) -> None:
        store = FakeAssetStateStore()
        watcher = await Watcher(emulator, store).start()
        try:
            job_id = completed(emulator, "a")
            await watcher.rounds(2)
            assert job_id in next(iter(json.loads(v) for v in store.values.values()))["seen"]
            emulator.expire_job(job_id)
            await watcher.rounds(2)
        finally:
            await watcher.stop()
        (stored,) = (json.loads(v) for v in store.values.values())
        assert job_id not in stored["seen"]
        assert watcher.announced == [job_id]

    async def test_without_a_state_store_a_restart_begins_a_new_baseline(emulator: ImportEmulator) -> None:
        """Airflow 3.0 to 3.2 (and a trigger run outside a watcher): jobs completed while none ran are missed."""
        first = await Watcher(emulator, None).start()
        seen = completed(emulator, "a")
        await first.rounds(2)
        await first.stop()
        missed = completed(emulator, "m")
        in_flight = emulator.create_job("articles", [["f.parquet"]])
        second = await Watcher(emulator, None).start()
        try:
            emulator.finish_job(in_flight)
            await second.rounds(2)
        finally:
            await second.stop()
        assert first.announced == [seen]
        assert second.announced == [in_flight]
        assert missed not in first.announced + second.announced

    async def test_a_failing_list_is_retried_and_nothing_is_lost(emulator: ImportEmulator) -> None:
        store = FakeAssetStateStore()
        watcher = await Watcher(emulator, store).start()
        try:
            emulator.inject_status(503, count=2, route=LIST)
            job_id = completed(emulator, "a")
            await watcher.rounds(3)
        finally:
            await watcher.stop()
        assert watcher.announced == [job_id]

    async def test_a_missing_connection_is_waited_for(
        emulator: ImportEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        conn = os.environ.pop("AIRFLOW_CONN_MILVUS_WATCH")
        watcher = Watcher(emulator, FakeAssetStateStore())
        watcher.task = asyncio.create_task(watcher._consume())
        try:
            await asyncio.sleep(0.3)  # lets the trigger fail its first lookups; no time is asserted
            assert emulator.request_count(LIST) == 0 and not watcher.task.done()
            monkeypatch.setenv("AIRFLOW_CONN_MILVUS_WATCH", conn)
            await watcher.rounds(1)
            job_id = completed(emulator, "a")
            await watcher.rounds(2)
        finally:
            await watcher.stop()
        assert watcher.announced == [job_id]

    async def test_legacy_grpc_of_milvus_2_4_plus_names_no_job_so_the_watcher_lists_over_rest(
        make_endpoint: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """gRPC ``ListImportTasks`` answers id 0 for every job there: the same port's REST v2 lists instead."""
        endpoint = make_endpoint("2.5", speed=0, job_duration=1000.0, rows_per_file=10)
        conn = {"conn_type": "milvus", "host": f"http://127.0.0.1:{endpoint.port}", "extra": {"protocol": "grpc"}}
        monkeypatch.setenv("AIRFLOW_CONN_MILVUS_WATCH", json.dumps(conn))
        emulator = endpoint.rest
        earlier = completed(emulator, "old")
        watcher = await Watcher(emulator, FakeAssetStateStore()).start()
        try:
            job_id = completed(emulator, "a")
            await watcher.rounds(2)
        finally:
            await watcher.stop()
        assert watcher.announced == [job_id]
        assert watcher.events[0]["row_count"] == 10
        assert earlier not in watcher.announced
