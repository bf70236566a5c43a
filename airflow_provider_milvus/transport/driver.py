"""Drive a protocol operation (a generator of requests) with a sync or an async ``send``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from airflow_provider_milvus.protocol.base import Sleep

T = TypeVar("T")


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


async def run_async(operation: Generator[Any, Any, T], send: Callable[[Any], Awaitable[Any]]) -> T:
    """Run ``operation`` to its result without blocking the event loop."""
    try:
        request = next(operation)
        while True:
            if isinstance(request, Sleep):
                await asyncio.sleep(request.seconds)
                request = operation.send(None)
            else:
                request = operation.send(await send(request))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        operation.close()
