"""Once means once (issue #23): a back-channel message's id is claimed before the message is
applied, in one atomic step of the replay cache, so that copies of it (a sender's retries
while this site was frozen, arriving together when it wakes) are applied once and answered
"already applied"; a copy whose applying failed gives its claim back, so a later copy
applies it. In process, on each store (memory, SQLite); across processes on one store,
``tests/faults/test_frozen_peer.py`` and the store contract's claim test."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.protocol import LogoutPayload
from asgi_sessionsync.stores import ActivityFilter, Direction, Outcome, Stores, memory_stores, sqlite_stores
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.concurrently import gather
from tests.constants import ALICE

URLS = {"a": "https://a.example", "b": "https://b.example"}


@pytest.fixture(params=["memory", "sqlite"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    def stores(name: str) -> Stores:
        return memory_stores() if request.param == "memory" else sqlite_stores(tmp_path / f"{name}.sqlite3")

    apps = {"a": login_app("a", dict([ALICE]), csrf_check=False), "b": login_app("b", {}, csrf_check=False)}
    async with SiteNetwork(apps, urls=URLS, stores={n: stores(n) for n in apps}) as network:
        yield network


def sign_out_message(net: SiteNetwork, jti: bytes) -> str:
    """One sign-out of alice (every session of hers), sealed by A for B, as the courier does."""
    a = net.sites["a"].site
    now = time.time()
    return a.tokens.seal_for_peer(
        "default",
        URLS["b"],
        Purpose.BACKCHANNEL,
        subject=ALICE[0],
        ttl=60,
        ip="",
        jti=jti,
        extra=LogoutPayload(None, now).to_wire(),
    )


async def received(net: SiteNetwork) -> list[str]:
    log = net.sites["b"].site.stores.activity
    assert log is not None
    entries = await log.list(ActivityFilter(direction=Direction.RECEIVED, kind="logout"))
    return sorted(e.said for e in entries)


async def active_on_b(net: SiteNetwork) -> int:
    """Alice's active sessions on B (a page visit would catch her up from A again)."""
    return len(await net.sites["b"].site.stores.sessions.list(user=ALICE[0]))


async def post_all(net: SiteNetwork, token: str, copies: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=net.network) as client:
        url = f"{URLS['b']}/_sessionsync/backchannel"
        return await gather(*(client.post(url, content=token) for _ in range(copies)))


async def test_copies_of_one_message_arriving_together_are_applied_once(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await active_on_b(net) == 1
    answers = await post_all(net, sign_out_message(net, b"copied-message-1"), copies=8)
    assert sorted(r.status_code for r in answers) == [200] * 7 + [204], [r.text for r in answers]
    assert [r.text for r in answers if r.status_code == 200] == ["already applied"] * 7
    said = await received(net)
    assert said == ["already applied"] * 7 + ["applied: 1 session(s) ended"], said
    assert await active_on_b(net) == 0


async def test_a_copy_whose_applying_failed_gives_its_claim_back_and_a_later_copy_applies_it(
    net: SiteNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    b = net.sites["b"].site
    sessions = b.stores.sessions
    real_end_user = sessions.end_user
    failures = 0

    async def end_user_fails_once(*args: object, **kwargs: object) -> int:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise b.stores.availability.failed("cannot reach the server", "the test's one failure")
        return await real_end_user(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sessions, "end_user", end_user_fails_once)
    token = sign_out_message(net, b"retried-message-1")
    (first,) = await post_all(net, token, copies=1)
    assert first.status_code == 503  # the sender keeps it and tries again
    (retry,) = await post_all(net, token, copies=1)
    assert retry.status_code == 204, retry.text
    (again,) = await post_all(net, token, copies=1)
    assert again.status_code == 200 and again.text == "already applied"
    assert await received(net) == ["already applied", "applied: 1 session(s) ended"]
    assert await active_on_b(net) == 0


async def test_a_message_is_never_applied_while_the_store_cannot_record_it(net: SiteNetwork) -> None:
    """The claim comes first: a store that cannot take it leaves the message unapplied
    (503, the sender retries), never applied and forgotten."""
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    b = net.sites["b"].site
    replay = b.stores.replay
    real_use = replay.use

    async def use_fails(jti: bytes, expires_at: float) -> bool:
        raise StoreUnavailable("test store", "cannot reach the server")

    replay.use = use_fails  # type: ignore[method-assign]
    (answer,) = await post_all(net, sign_out_message(net, b"unrecorded-1"), copies=1)
    assert answer.status_code == 503
    assert await active_on_b(net) == 1
    replay.use = real_use  # type: ignore[method-assign]
    (answer,) = await post_all(net, sign_out_message(net, b"unrecorded-1"), copies=1)
    assert answer.status_code == 204
    assert await active_on_b(net) == 0
    assert Outcome.APPLIED in {Outcome(s.split(":")[0]) for s in await received(net)}


async def test_copies_split_between_two_processes_of_one_site_are_applied_once(tmp_path: Path) -> None:
    """Two workers of B on one SQLite file, each a middleware with its own connection, as
    two processes have: copies sent to both at once are applied once; the others are
    "already applied", or 409 (still being applied elsewhere: the sender tries again)."""
    apps = {"a": login_app("a", dict([ALICE]), csrf_check=False), "b": login_app("b", {}, csrf_check=False)}
    stores = {n: sqlite_stores(tmp_path / f"{n}.sqlite3") for n in apps}
    async with SiteNetwork(apps, urls=URLS, stores=stores) as net:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        first = net.sites["b"]
        second = SessionSyncMiddleware(
            login_app("b", {}, csrf_check=False),
            first.settings,
            stores=sqlite_stores(tmp_path / "b.sqlite3"),
            transport=net.network,
        )
        net.network.add(["b-second.internal"], second, name="b-second")
        token = sign_out_message(net, b"split-message-1")
        async with httpx.AsyncClient(transport=net.network) as client:
            answers = await gather(
                *(
                    client.post(f"{url}/_sessionsync/backchannel", content=token)
                    for url in [URLS["b"], "http://b-second.internal"] * 4
                )
            )
        await second.aclose()
        statuses = sorted(r.status_code for r in answers)
        assert statuses.count(204) == 1 and set(statuses) <= {200, 204, 409}, [(r.status_code, r.text) for r in answers]
        assert await active_on_b(net) == 0
        assert [s for s in await received(net) if s.startswith("applied")] == ["applied: 1 session(s) ended"]
