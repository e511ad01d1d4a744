"""A signed-in request records "last seen" at most once a minute (TOUCH_EVERY): the
common request, answered from memory without a coroutine of its own, must still write it
when it is due, and write nothing when it is not."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asgi_sessionsync.sessions.active import TOUCH_EVERY
from asgi_sessionsync.stores import SessionRecord
from asgi_sessionsync.testing import SiteNetwork
from tests.constants import ALICE
from tests.sites import three_sites


@pytest.fixture(params=["sqlite", "memory"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    async with three_sites(tmp_path if request.param == "sqlite" else None) as sites:
        yield sites


async def on_a(net: SiteNetwork) -> SessionRecord:
    (record,) = await net.sites["a"].site.stores.sessions.list(user=ALICE[0])
    return record


async def test_a_request_writes_last_seen_when_it_is_due(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    record = await on_a(net)
    due = time.time() - TOUCH_EVERY - 5
    await net.sites["a"].site.stores.sessions.touch(record.sid, due)
    before = time.time()
    assert await browser.who("a") == ALICE[0]
    assert (await on_a(net)).last_seen_at >= before


async def test_a_request_within_the_minute_writes_nothing(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    record = await on_a(net)
    recent = time.time() - TOUCH_EVERY / 2
    await net.sites["a"].site.stores.sessions.touch(record.sid, recent)
    assert await browser.who("a") == ALICE[0]
    assert (await on_a(net)).last_seen_at == pytest.approx(recent, abs=1e-3)


async def test_a_session_ended_meanwhile_is_refused_at_once(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await browser.who("a") == ALICE[0]  # read once: now in this process's memory
    record = await on_a(net)
    await net.sites["a"].site.stores.sessions.end(record.sid, reason="revoked", when=time.time())
    assert await browser.who("a") is None
