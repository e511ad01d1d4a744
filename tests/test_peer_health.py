"""Peer health (#12, #16): the authenticated ping, misconfigured peers left out like dead
ones, one probe in flight per peer, retries of a timeout, and a recovered peer's queue."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import httpx
import pytest

from asgi_sessionsync.envelope import seal
from asgi_sessionsync.keys import KeyRing, generate_secret, parse_secret
from asgi_sessionsync.peers import Problem
from asgi_sessionsync.protocol import Purpose
from asgi_sessionsync.settings import Peer
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import OutboxMessage, new_id
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.constants import ALICE

URLS = {n: f"https://{n}.example" for n in "abc"}


def network(site_settings: Mapping[str, Mapping[str, Any]] | None = None, **settings: Any) -> SiteNetwork:
    others = {n: {m: URLS[m] for m in URLS if m != n} for n in URLS}
    apps = {n: login_app(n, dict([ALICE]) if n == "a" else {}, others[n], csrf_check=False) for n in URLS}
    return SiteNetwork(apps, urls=URLS, site_settings=site_settings, settings=settings)


def site(net: SiteNetwork, name: str) -> Site:
    return net.sites[name].site


def entry(net: SiteNetwork, asker: str, peer: str) -> Any:
    found = site(net, asker).asking.peer(URLS[peer])
    assert found is not None
    return found


@pytest.fixture
async def net() -> AsyncIterator[SiteNetwork]:
    async with network() as running:
        yield running


async def test_the_authenticated_ping_proves_the_key_the_listing_and_gives_the_clock(net: SiteNetwork) -> None:
    result = await site(net, "a").health.check(entry(net, "a", "b"))
    assert result.ok and not result.legacy
    assert result.offset is not None and abs(result.offset) < 1
    assert result.peer_site == URLS["b"]
    plain = await net.browser().client.get(f"{URLS['b']}/_sessionsync/ping")
    assert plain.status_code == 204 and plain.content == b""


async def test_a_peer_with_another_key_is_told_apart_from_one_that_does_not_list_us() -> None:
    secret, other = generate_secret(), generate_secret()
    peers_of = {n: [Peer(URLS[m]) for m in URLS if m != n] for n in URLS}
    async with network(
        {
            "a": {"secret_keys": [secret], "peers": peers_of["a"]},
            # b seals with a key a lacks (but still opens a's).
            "b": {"secret_keys": [other, secret], "peers": peers_of["b"]},
            # c holds the key but does not list a.
            "c": {"secret_keys": [secret], "peers": [Peer(URLS["b"])]},
        }
    ) as net:
        health = site(net, "a").health
        assert (await health.check(entry(net, "a", "b"))).problem is Problem.SITE_LACKS_KEY
        assert (await health.check(entry(net, "a", "c"))).problem is Problem.NOT_LISTED
        # And seen from b: a does not hold b's first key, so a cannot open what b seals;
        # from b's side the ping works only one way: a opens nothing b seals.
        assert (await site(net, "b").health.check(entry(net, "b", "a"))).problem is Problem.PEER_LACKS_KEY


async def test_a_refused_ping_answers_everyone_alike_and_logs_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    """Red-team #20: ``POST ping`` said "bad tag", "unknown key", "wrong purpose", ... to
    anyone. Every refusal is now one answer; the reason is in the (rate-limited) log."""
    secret = generate_secret()
    peers_of = {n: [Peer(URLS[m]) for m in URLS if m != n] for n in URLS}
    async with network({n: {"secret_keys": [secret], "peers": peers_of[n]} for n in URLS}) as net:
        a = site(net, "a").tokens
        stranger = KeyRing([parse_secret(generate_secret(), variable="X")])
        ping = a.seal_for_peer("default", URLS["b"], Purpose.PING, subject="", ttl=60, ip="", extra={})
        flipped = ping[:-2] + ("A" if ping[-2] != "A" else "B") + ping[-1]
        bodies = {
            "malformed": b"junk",
            "not ascii": b"\xff\xfe",
            "unknown key": seal(stranger, Purpose.PING, issuer=URLS["a"], audience=URLS["b"], ttl=60).encode(),
            "bad tag": flipped.encode(),
            "wrong purpose": a.seal_for_peer(
                "default", URLS["b"], Purpose.HOP, subject="", ttl=60, ip="", extra={}
            ).encode(),
            "wrong audience": a.seal_for_peer(
                "default", URLS["c"], Purpose.PING, subject="", ttl=60, ip="", extra={}
            ).encode(),
            "wrong issuer": seal(
                a.home_ring, Purpose.PING, issuer="https://x.example", audience=URLS["b"], ttl=60
            ).encode(),
        }
        caplog.set_level(logging.WARNING, logger="asgi_sessionsync")
        client = net.browser().client
        answers = set()
        for body in bodies.values():
            answer = await client.post(f"{URLS['b']}/_sessionsync/ping", content=body)
            headers = tuple(sorted((k, v) for k, v in answer.headers.items() if k != "x-sessionsync-time"))
            answers.add((answer.status_code, answer.content, headers))
        assert len(answers) == 1, answers
        ((status, content, _),) = answers
        assert status == 403 and content == b"refused"
        logged = " ".join(r.getMessage() for r in caplog.records if "ping refused" in r.getMessage())
        for reason in ("malformed", "unknown key", "bad tag", "wrong purpose", "wrong audience", "wrong issuer"):
            assert f"ping refused: {reason}" in logged, logged


async def test_misconfigured_peers_are_left_out_of_the_chain_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    secret = generate_secret()
    peers_of = {n: [Peer(URLS[m]) for m in URLS if m != n] for n in URLS}
    async with network(
        {
            "a": {"secret_keys": [secret], "peers": peers_of["a"]},
            "b": {"secret_keys": [secret], "peers": peers_of["b"]},
            "c": {"secret_keys": [generate_secret()], "peers": peers_of["c"]},  # another key altogether
        }
    ) as net:
        caplog.set_level(logging.INFO, logger="asgi_sessionsync")
        for _ in range(3):
            browser = net.browser()
            response = await browser.sign_in("a", *ALICE)
            assert response.status_code == 200 and str(response.url) == f"{URLS['a']}/"
            visited = {str(r.url).split("/_", 1)[0] for r in response.history}
            assert URLS["c"] not in visited  # never sent to a site that would refuse it
            assert await browser.who("b") == ALICE[0]
            await anyio.sleep(0.06)  # past the (shortened) time a failure is trusted: asked again
        lines = [r.getMessage() for r in caplog.records if "left out of sign-in sync" in r.getMessage()]
        assert len(lines) == 1, lines
        assert URLS["c"] in lines[0] and "SESSIONSYNC_SECRET_KEYS" in lines[0]
        assert "tamper" not in caplog.text


@pytest.fixture(autouse=True)
def quick_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """Health answers trusted for a few milliseconds, so tests can see a second probe."""
    from asgi_sessionsync.peers import PeerHealth

    monkeypatch.setattr(PeerHealth, "DOWN_FOR", 0.05)
    monkeypatch.setattr(PeerHealth, "UP_FOR", 0.05)


async def test_one_probe_in_flight_per_peer_is_shared_by_every_caller(net: SiteNetwork) -> None:
    health = site(net, "a").health
    peers = [entry(net, "a", "b"), entry(net, "a", "c")]
    answers: list[int] = []

    async def ask() -> None:
        answers.append(len(await health.alive(peers)))

    async with anyio.create_task_group() as group:
        for _ in range(150):
            group.start_soon(ask)
    assert answers == [2] * 150
    assert health.probes == 2  # one per peer


async def test_health_has_its_own_client_not_the_outbox_one(net: SiteNetwork) -> None:
    a = site(net, "a")
    assert a.health.client is not a.client
    assert a.health.client.http is not a.client.http


class Flaky(httpx.AsyncBaseTransport):
    """Times out the first ``timeouts`` authenticated pings, then passes them on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, timeouts: int) -> None:
        self.inner = inner
        self.timeouts = timeouts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/ping") and self.timeouts > 0:
            self.timeouts -= 1
            raise httpx.ReadTimeout("the loop was busy", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_timeout_is_asked_again_once_before_the_peer_is_called_down(net: SiteNetwork) -> None:
    a = site(net, "a")
    flaky = Flaky(net.network, timeouts=1)
    a.health.client._transport = flaky
    assert (await a.health.check(entry(net, "a", "b"))).ok
    assert a.health.probes == 2
    flaky.timeouts = 2
    result = await a.health.check(entry(net, "a", "c"))
    assert result.problem is Problem.TIMEOUT


async def queue_for(a: Site, peer: str, *, url: str | None = None, attempts: int = 1) -> OutboxMessage:
    now = time.time()
    message = OutboxMessage(
        id=new_id(),
        network="default",
        peer=URLS[peer],
        url=url or URLS[peer],
        kind="logout",
        payload={"sub": ALICE[0], "c": "some-chain", "t": now},
        created_at=now,
        next_attempt_at=now + 250,  # deep in its back-off
        attempts=attempts,
    )
    await a.stores.outbox.add([message])
    return message


async def test_a_peer_seen_alive_again_gets_its_queue_at_once(net: SiteNetwork) -> None:
    a = site(net, "a")
    net.network.down.add("b")
    assert not (await a.health.check(entry(net, "a", "b"))).ok
    message = await queue_for(a, "b")
    net.network.down.discard("b")
    await anyio.sleep(0.06)
    assert (await a.health.check(entry(net, "a", "b"))).ok
    (pending,) = await a.stores.outbox.pending()
    assert pending.id == message.id and pending.next_attempt_at <= time.time()
    assert await a.courier.deliver_due() == 1
    assert await a.stores.outbox.pending() == []


async def test_a_delivery_that_succeeds_after_failures_sends_the_rest_of_the_queue(net: SiteNetwork) -> None:
    a = site(net, "a")
    first, second = await queue_for(a, "b"), await queue_for(a, "b")
    assert await a.courier.deliver([first.id]) == []  # not due yet: nothing claimed
    await a.stores.outbox.claim([first.id], first.next_attempt_at, time.time() - first.next_attempt_at)
    (delivery,) = await a.courier.deliver([first.id])
    assert delivery.delivered
    (left,) = await a.stores.outbox.pending()
    assert left.id == second.id and left.next_attempt_at <= time.time()


async def test_messages_follow_the_current_peer_configuration(
    net: SiteNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    a = site(net, "a")
    moved = await queue_for(a, "b", url="http://old-address.internal:8000")
    gone = OutboxMessage(
        id=new_id(),
        network="default",
        peer="https://removed.example",
        url="https://removed.example",
        kind="logout",
        payload={"sub": ALICE[0], "c": "x", "t": time.time()},
        created_at=time.time(),
        next_attempt_at=time.time(),
    )
    await a.stores.outbox.add([gone])
    await a.stores.outbox.claim([moved.id], moved.next_attempt_at, time.time() - moved.next_attempt_at)
    with caplog.at_level(logging.ERROR, logger="asgi_sessionsync"):
        deliveries = {d.message.id: d for d in await a.courier.deliver([moved.id, gone.id])}
    assert deliveries[moved.id].delivered  # sent to b's current back-channel URL
    assert not any(r.url.host == "old-address.internal" for r in net.network.requests)
    assert deliveries[gone.id].abandoned
    assert "https://removed.example" in caplog.text and "no longer configured" in caplog.text
    assert await a.stores.outbox.pending() == []


async def test_a_refused_message_does_not_mark_a_healthy_peer_down(net: SiteNetwork) -> None:
    a = site(net, "a")
    assert (await a.health.check(entry(net, "a", "b"), max_age=0)).ok
    stale = await queue_for(a, "b")
    await a.stores.outbox.claim([stale.id], stale.next_attempt_at, time.time() - stale.next_attempt_at)
    # A message b refuses (an old one it cannot apply, say): b itself is fine.
    a.client._transport = Refusing(net.network)
    (delivery,) = await a.courier.deliver([stale.id])
    assert not delivery.delivered and delivery.error == "HTTP 400"
    result = a.health.state_of(URLS["b"])
    assert result is not None and result.ok


class Refusing(httpx.AsyncBaseTransport):
    """Answers every back-channel message with the receiver's uniform refusal."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/backchannel"):
            return httpx.Response(400, text="refused")
        return await self.inner.handle_async_request(request)


async def test_a_burst_of_150_sign_ins_takes_every_browser_through_every_peer(
    net: SiteNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgi_sessionsync.peers import PeerHealth

    browsers = [net.browser(ip=f"198.51.100.{i % 250 + 1}") for i in range(150)]
    started = time.monotonic()

    async def sign_in(browser: Any) -> None:
        await browser.sign_in("a", *ALICE)

    async with anyio.create_task_group() as group:
        for browser in browsers:
            group.start_soon(sign_in, browser)
    for name in "bc":
        sessions = await site(net, name).stores.sessions.list(user=ALICE[0], limit=1000)
        assert len(sessions) == 150, name  # every chain went through every peer
    # Bounded by time, whatever the number of sign-ins: a good answer counts for
    # POINT_FOR before a browser is sent on it (one probe in flight per peer, shared).
    seconds = time.monotonic() - started
    assert site(net, "a").health.probes <= 2 * (int(seconds / PeerHealth.POINT_FOR) + 2)
