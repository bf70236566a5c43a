"""Drive a protocol operation (a generator of requests) with a sync or an async ``send``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final, TypeVar

from airflow_provider_milvus.protocol.base import Sleep

T = TypeVar("T")

#: Answers longer than this are parsed in a worker thread, so the event loop runs on meanwhile.
THREAD_PARSE_BYTES: Final = 64 * 1024


def run_sync(operation: Generator[Any, Any, T], send: Callable[[Any], Any]) -> T:
    """Run ``operation`` to its result, sending each request with the blocking ``send``."""
    try:
        request = next(operation)
        while True:
            if isinstance(request, Sleep):
                time.sleep(request.seconds)
                request = operation.send(None)
            else:
                request = operation.send(send(request))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        operation.close()


async def run_async(
    operation: Generator[Any, Any, T],
    send: Callable[[Any], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Run ``operation`` to its result without blocking the event loop.

    A long answer (a busy server's list) is handed to the operation in a worker thread: the parser (the
    same one the sync path runs) decodes it record by record, so the loop is never held for long.
    ``sleep`` serves the operation's pauses (a caller that times the operation can leave them out).
    """
    try:
        request = next(operation)
        while True:
            if isinstance(request, Sleep):
                await sleep(request.seconds)
                request = operation.send(None)
                continue
            answer = await send(request)
            if len(getattr(answer, "body", b"")) <= THREAD_PARSE_BYTES:
                request = operation.send(answer)
                continue
            done, result = await asyncio.to_thread(_step, operation, answer)
            if done:
                return result  # type: ignore[no-any-return]
            request = result
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        operation.close()


def _step(operation: Generator[Any, Any, Any], answer: Any) -> tuple[bool, Any]:
    """One ``send`` into ``operation``: (True, its result) when it finished (StopIteration cannot cross a Future)."""
    try:
        return False, operation.send(answer)
    except StopIteration as stop:
        return True, stop.value
