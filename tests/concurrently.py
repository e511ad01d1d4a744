"""``gather``: ``asyncio.gather`` for tests that must run on any backend (asyncio, trio)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def gather(*awaitables: Awaitable[T]) -> list[T]:
    """Await all at once, each in a task of one task group; results in argument order.
    The first error cancels the rest and is raised (in an exception group)."""
    results: list[T | None] = [None] * len(awaitables)

    async def one(index: int, awaitable: Awaitable[T]) -> None:
        results[index] = await awaitable

    async with anyio.create_task_group() as group:
        for index, awaitable in enumerate(awaitables):
            group.start_soon(one, index, awaitable)
    return results  # type: ignore[return-value]  # every slot was filled
