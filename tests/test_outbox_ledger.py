"""The courier's ledger (issue #23): a sign-out the browser saw is never lost. Messages the
outbox cannot take while its store is down are held in the process, in order, and written
when it is back; messages this process queued are queued again when the store lost its
data (a Redis server started again empty), with an ERROR line that says how many; what
could not be written before shutdown is said in an ERROR line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.peers import ledger as ledger_module
from asgi_sessionsync.stores import OutboxMessage, memory_stores, open_stores
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.constants import ALICE
from tests.harness.redis_server import RedisServer
from tests.stores.redis_server import controlled_redis_server

T = TypeVar("T")
URLS = {"a": "https://a.example", "b": "https://b.example"}
BOB = ("bob@example.com", "builder")


def apps() -> dict[str, object]:
    return {"a": login_app("a", dict([ALICE, BOB]), csrf_check=False), "b": login_app("b", {}, csrf_check=False)}


def backchannel_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asgi_sessionsync.backchannel" and r.levelno == level]


@pytest.fixture
async def memory_net() -> AsyncIterator[SiteNetwork]:
    async with SiteNetwork(apps(), urls=URLS, stores={"a": memory_stores()}) as net:  # type: ignore[arg-type]
        yield net


async def test_messages_the_outbox_cannot_take_are_held_in_order_and_written_when_it_can(
    memory_net: SiteNetwork, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = memory_net
    a = net.sites["a"].site
    browsers = [net.browser(), net.browser()]
    for browser in browsers:
        await browser.sign_in("a", *ALICE)
    outbox = a.stores.outbox
    real_add = outbox.add

    async def add_fails(messages: list[OutboxMessage]) -> None:
        raise a.stores.availability.failed("cannot reach the server", "the test's outage")

    monkeypatch.setattr(outbox, "add", add_fails)
    for browser in browsers:  # the sessions end here; their messages cannot be queued
        await browser.sign_out("a")
        assert await browser.who("a") is None
    held = [m.id for m in a.courier.ledger.held]
    assert len(held) == 2
    monkeypatch.setattr(outbox, "add", real_add)
    await a.courier.ledger.round()
    assert a.courier.ledger.held == []
    assert sorted(m.id for m in await outbox.pending()) == sorted(held)
    while await a.courier.deliver_due():
        pass
    for browser in browsers:
        assert await browser.everyone() == {"a": None, "b": None}
    assert "2 message(s) kept in this process while the store was down written to the outbox now" in caplog.text


async def test_a_message_queued_while_others_are_held_waits_behind_them(
    memory_net: SiteNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = memory_net.sites["a"].site
    ledger = a.courier.ledger
    outbox = a.stores.outbox
    real_add = outbox.add
    calls: list[list[str]] = []

    async def add_fails_once(messages: list[OutboxMessage]) -> None:
        calls.append([m.id for m in messages])
        if len(calls) == 1:
            raise StoreUnavailable("memory store", "cannot reach the server")
        await real_add(messages)

    monkeypatch.setattr(outbox, "add", add_fails_once)
    await a.courier.broadcast_logout(ALICE[0], chain="c1", when=1.0, wait=False)
    first = [m.id for m in ledger.held]
    await a.courier.broadcast_logout(ALICE[0], chain="c2", when=2.0, wait=False)
    assert ledger.held == []
    assert calls[1] == first  # the held one went first, then the new one
    assert len(calls) == 3


async def test_held_messages_that_cannot_be_written_before_shutdown_are_said_lost(
    memory_net: SiteNetwork, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a = memory_net.sites["a"].site

    async def add_fails(messages: list[OutboxMessage]) -> None:
        raise StoreUnavailable("memory store", "cannot reach the server")

    monkeypatch.setattr(a.stores.outbox, "add", add_fails)
    await a.courier.broadcast_logout(ALICE[0], chain="c1", when=1.0, wait=False)
    await a.courier.ledger.close()
    assert "1 message(s) kept in this process while the store was down could not be written" in caplog.text
    assert [r.levelname for r in caplog.records if "could not be written" in r.getMessage()] == ["ERROR"]


# -- a Redis server started again empty ----------------------------------------------------


async def answered(call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` once the store answers again (a pooled connection may fail once after a
    restart: the store is then down for a probe's second)."""
    with anyio.fail_after(15):
        while True:
            try:
                return await call()
            except StoreUnavailable:
                await anyio.sleep(0.2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with controlled_redis_server(tmp_path / "redis") as running:  # no persistence: starts again empty
        yield running


@pytest.mark.asyncio_only("redis-py's asyncio client runs on asyncio only")
async def test_messages_this_process_queued_are_queued_again_when_redis_comes_back_empty(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(ledger_module, "CHECK_EVERY", 0.0)  # every round compares the generation
    stores = open_stores(f"{server.url}?prefix=site-a")
    async with SiteNetwork(apps(), urls=URLS, stores={"a": stores}) as net:  # type: ignore[arg-type]
        a = net.sites["a"].site
        alice, bob = net.browser(), net.browser()
        await alice.sign_in("a", *ALICE)
        await bob.sign_in("a", *BOB)
        await a.courier.ledger.round()  # the generation, as the worker's first round sees it
        net.network.down.add("b")
        await alice.sign_out("a")
        await bob.sign_out("a")
        assert len(await a.stores.outbox.pending()) == 2
        a.courier.ledger.seen_pending = 2  # as the worker's last look saw it
        server.kill()
        server.start(empty=True)
        assert await answered(a.stores.outbox.pending) == []  # lost with the server's data
        await a.courier.ledger.round()
        lost = backchannel_lines(caplog, logging.ERROR)
        assert len(lost) == 1 and "lost its data" in lost[0], lost
        assert "2 message(s) were pending" in lost[0] and "the 2 this process queued" in lost[0]
        assert len(await a.stores.outbox.pending()) == 2  # queued again, with their ids
        net.network.down.discard("b")
        while await a.courier.deliver_due(now=10**10):
            pass
        assert len(await net.sites["b"].site.stores.sessions.list()) == 0  # both signed out on B


@pytest.mark.asyncio_only("the outbox worker runs as a task of the loop without lifespan on asyncio only")
async def test_the_worker_outlives_a_store_that_fails_while_a_sign_out_is_being_sent(
    memory_net: SiteNetwork, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = memory_net
    a = net.sites["a"].site
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert a.courier.running
    outbox = a.stores.outbox
    real_claim = outbox.claim

    async def claim_fails(*args: object, **kwargs: object) -> list[OutboxMessage]:
        raise a.stores.availability.failed("cannot reach the server", "the test's outage")

    monkeypatch.setattr(outbox, "claim", claim_fails)
    await browser.sign_out("a")  # queued; sending it now fails in the worker's task group
    assert a.courier.running, "the worker died"
    monkeypatch.setattr(outbox, "claim", real_claim)
    with anyio.fail_after(10):  # the worker delivers it in a later round
        while await outbox.pending():  # noqa: ASYNC110 - the worker of another task: no event to wait on
            await anyio.sleep(0.05)
    assert await browser.everyone() == {"a": None, "b": None}
    assert not [r for r in caplog.records if r.exc_info]
