"""Talking to peers: the HTTP client, peer health, and the back-channel courier.

A sign-out writes one message per peer into the outbox *before* anything is sent, so
a crash or a peer that is down loses nothing: the courier retries with exponential
back-off until the peer answers 2xx or the message is too old to matter. Each
message keeps its id across retries and the receiver applies an id once.

Everything here runs on any async library anyio supports (asyncio, trio).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import anyio
import httpx
from anyio.abc import TaskGroup, TaskStatus

from asgi_sessionsync.exceptions import SessionSyncError
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.protocol import Endpoint, LogoutPayload
from asgi_sessionsync.settings import Network, Peer, Settings
from asgi_sessionsync.stores import Outbox, OutboxMessage, new_id
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url

logger = logging.getLogger("asgi_sessionsync.backchannel")

RETRY_BASE = 1.0  # seconds before the first retry; doubles each time
RETRY_MAX = 300.0
MESSAGE_MAX_AGE = 3 * 86400.0  # older undelivered messages are abandoned (and logged)
POLL_INTERVAL = 1.0

PeerEntry = tuple[Network, Peer]


class PeerClient:
    """The HTTP client for peers, made on first use (building one costs tens of ms)."""

    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class PeerHealth:
    """Which peers answer, so that no browser is sent to a site that is down."""

    UP_FOR = 10.0  # seconds a good answer is trusted
    DOWN_FOR = 3.0  # seconds a failure is trusted before asking again

    def __init__(self, client: PeerClient, prefix: str, timeout: float) -> None:
        self.client = client
        self.prefix = prefix
        self.timeout = min(timeout, 1.0)
        self._known: dict[str, tuple[bool, float]] = {}

    def mark(self, origin: str, up: bool) -> None:
        self._known[origin] = (up, time.monotonic())

    async def alive(self, peers: Sequence[PeerEntry]) -> list[PeerEntry]:
        now = time.monotonic()
        stale = [
            peer
            for _, peer in peers
            if (known := self._known.get(peer.origin)) is None
            or now - known[1] > (self.UP_FOR if known[0] else self.DOWN_FOR)
        ]
        if stale:
            async with anyio.create_task_group() as group:
                for peer in stale:
                    group.start_soon(self._probe, peer)
        return [(n, p) for n, p in peers if self._known.get(p.origin, (False, 0.0))[0]]

    async def _probe(self, peer: Peer) -> None:
        url = endpoint_url(peer.backchannel_url, self.prefix, Endpoint.PING)
        try:
            response = await self.client.http.get(url, timeout=self.timeout)
            up = response.status_code == 204
        except httpx.HTTPError:
            up = False
        self.mark(peer.origin, up)
        if not up:
            logger.warning("peer %s is not answering; left out of sign-in sync for now", peer.origin)


class Courier:
    """Queues back-channel messages for peers and delivers them; one per site."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        tokens: Tokens,
        client: PeerClient,
        health: PeerHealth,
        peers: Sequence[PeerEntry],
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.tokens = tokens
        self.client = client
        self.health = health
        self.peers = tuple(peers)
        self.lease = settings.peer_timeout * 2 + 5.0
        # Made by the running worker (anyio objects need a running event loop).
        self._wake: anyio.Event | None = None
        self._group: TaskGroup | None = None

    async def broadcast_logout(
        self,
        email: str,
        *,
        chain: str | None,
        when: float,
        wait: bool = True,
        reason: str | None = None,
        seen_before: float | None = None,
    ) -> None:
        """Queue a sign-out for every peer, then try to deliver it now.

        With ``wait``, the caller waits at most ``logout_wait`` for the peers to confirm,
        so the next page load on a peer is already signed out; what is not confirmed by
        then stays queued for the worker (its lease runs out, then it is due again).
        """
        now = time.time()
        payload = LogoutPayload(chain, when, reason, seen_before).to_wire()
        payload.pop("k")
        messages = [
            OutboxMessage(
                id=new_id(),
                network=network.name,
                peer=peer.origin,
                url=peer.backchannel_url,
                kind="logout",
                payload={"sub": email, **payload},
                created_at=now,
                next_attempt_at=now,
            )
            for network, peer in self.peers
        ]
        if not messages:
            return
        await self.outbox.add(messages)
        ids = [m.id for m in messages]
        wait_for = self.settings.logout_wait if wait else 0.0
        group = self._group
        if group is None:
            # No worker (no lifespan): deliver here, as long as we may wait.
            with anyio.move_on_after(max(wait_for, self.settings.peer_timeout)):
                await self.deliver(ids)
            return
        done = anyio.Event()

        async def deliver_then_tell() -> None:
            try:
                await self.deliver(ids)
            finally:
                done.set()

        # Delivery goes on in the worker's task group after the wait ends.
        group.start_soon(deliver_then_tell)
        if wait_for > 0:
            with anyio.move_on_after(wait_for):
                await done.wait()

    async def deliver(self, ids: list[str]) -> None:
        claimed = await self.outbox.claim(ids, time.time(), self.lease)
        await self._send_all(claimed)

    async def deliver_due(self, now: float | None = None) -> int:
        """Send every message due by ``now``; return how many were attempted."""
        claimed = await self.outbox.claim_due(time.time() if now is None else now, self.lease)
        await self._send_all(claimed)
        return len(claimed)

    async def _send_all(self, messages: Sequence[OutboxMessage]) -> None:
        if len(messages) == 1:
            await self._send(messages[0])
            return
        async with anyio.create_task_group() as group:
            for message in messages:
                group.start_soon(self._send, message)

    @property
    def running(self) -> bool:
        return self._group is not None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The retry worker: deliver what is due, forever (cancel to stop). Sign-outs
        also deliver in its task group, so they outlive the request that made them.
        ``task_status`` is told once the worker takes sign-outs (for ``TaskGroup.start``)."""
        async with anyio.create_task_group() as group:
            self._group = group
            task_status.started()
            try:
                while True:
                    self._wake = anyio.Event()
                    try:
                        await self.deliver_due()
                    except SessionSyncError as error:  # a store hiccup: say so, try again next round
                        logger.error("outbox delivery round failed (%s); retrying", error)
                    except Exception:  # the worker must outlive anything; a bug deserves its traceback
                        logger.exception("outbox delivery round failed; retrying")
                    with anyio.move_on_after(POLL_INTERVAL):
                        await self._wake.wait()
            finally:
                self._group = self._wake = None

    async def _send(self, message: OutboxMessage) -> None:
        payload = message.payload
        token = self.tokens.seal_for_peer(
            message.network,
            message.peer,
            Purpose.BACKCHANNEL,
            subject=str(payload.get("sub", "")),
            ttl=self.settings.backchannel_lifetime,
            ip="",
            jti=message.id.encode("ascii"),
            extra={"k": message.kind, **{k: v for k, v in payload.items() if k != "sub"}},
        )
        url = endpoint_url(message.url, self.settings.path_prefix, Endpoint.BACKCHANNEL)
        error: str
        try:
            response = await self.client.http.post(url, content=token, headers={"content-type": "text/plain"})
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
            self.health.mark(message.peer, False)
        else:
            if 200 <= response.status_code < 300:
                await self.outbox.delivered(message.id, time.time())
                self.health.mark(message.peer, True)
                logger.info("%s message delivered to %s", message.kind, message.peer)
                return
            error = f"HTTP {response.status_code}"
        attempts = message.attempts + 1
        now = time.time()
        delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        abandon = now - message.created_at > MESSAGE_MAX_AGE
        await self.outbox.failed(message.id, error=error, next_attempt_at=now + delay, abandon=abandon)
        log = logger.error if abandon else logger.warning
        log(
            "%s message to %s failed (%s), attempt %d; %s",
            message.kind,
            message.peer,
            error,
            attempts,
            "abandoned: too old" if abandon else f"retrying in {delay:.1f}s",
        )
