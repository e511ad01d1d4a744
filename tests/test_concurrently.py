"""The backend-neutral ``gather`` the concurrency tests use."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from tests.concurrently import gather


async def test_gather_runs_all_at_once_and_keeps_the_order() -> None:
    started: list[int] = []
    both = anyio.Event()

    async def wait_for_the_other(n: int) -> int:
        started.append(n)
        if len(started) == 2:
            both.set()
        await both.wait()  # would hang if run one after the other
        return n * 10

    with anyio.fail_after(5):
        assert await gather(wait_for_the_other(1), wait_for_the_other(2)) == [10, 20]


async def test_gather_raises_the_first_error() -> None:
    async def fail() -> int:
        raise ValueError("no")

    with pytest.RaisesGroup(ValueError):
        await gather(fail(), anyio.lowlevel.checkpoint())
