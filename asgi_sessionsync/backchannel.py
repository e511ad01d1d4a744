"""Server-to-server messages: a durable outbox, delivery with back-off, and peer health.

A sign-out writes one message per peer into the outbox *before* anything is sent, so
a crash or a peer that is down loses nothing: a worker retries with exponential
back-off until the peer answers 2xx or the message is too old to matter. Each
message keeps its id across retries and the receiver applies an id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from asgi_sessionsync.envelope import seal
from asgi_sessionsync.exceptions import SessionSyncError
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.stores import OutboxMessage, new_id

if TYPE_CHECKING:
    from asgi_sessionsync.service import SyncService
    from asgi_sessionsync.settings import Network, Peer

logger = logging.getLogger("asgi_sessionsync.backchannel")

RETRY_BASE = 1.0  # seconds before the first retry; doubles each time
RETRY_MAX = 300.0
MESSAGE_MAX_AGE = 3 * 86400.0  # older undelivered messages are abandoned (and logged)
POLL_INTERVAL = 1.0


class BackchannelSender:
    """Queues messages for peers and delivers them; one per site."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @property
    def lease(self) -> float:
        return self.service.settings.peer_timeout * 2 + 5.0

    def start(self) -> None:
        """Start the retry worker in the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sessionsync-outbox")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def broadcast_logout(self, email: str, *, chain: str | None, when: float, wait: bool = True) -> None:
        now = time.time()
        messages = [
            OutboxMessage(
                id=new_id(),
                network=network.name,
                peer=peer.origin,
                url=peer.backchannel_url,
                kind="logout",
                payload={"sub": email, "c": chain, "t": when},
                created_at=now,
                next_attempt_at=now,
            )
            for network, peer in self.service.peer_list
        ]
        if not messages:
            return
        await self.service.stores.outbox.add(messages)
        delivery = asyncio.ensure_future(self.deliver([m.id for m in messages]))
        if wait and self.service.settings.logout_wait > 0:
            # Wait a little so the next page load on a peer is already signed out; what
            # is not confirmed by then stays queued and the worker retries it.
            await asyncio.wait({delivery}, timeout=self.service.settings.logout_wait)

    async def deliver(self, ids: list[str]) -> None:
        claimed = await self.service.stores.outbox.claim(ids, time.time(), self.lease)
        await asyncio.gather(*(self._send(m) for m in claimed))

    async def deliver_due(self, now: float | None = None) -> int:
        """Send every message due by ``now``; return how many were attempted."""
        claimed = await self.service.stores.outbox.claim_due(time.time() if now is None else now, self.lease)
        await asyncio.gather(*(self._send(m) for m in claimed))
        return len(claimed)

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except SessionSyncError as error:  # a store hiccup: say so, try again next round
                logger.error("outbox delivery round failed (%s); retrying", error)
            except Exception:  # the worker must outlive anything; a bug deserves its traceback
                logger.exception("outbox delivery round failed; retrying")
            assert self._wake is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
            self._wake.clear()

    async def _send(self, message: OutboxMessage) -> None:
        service = self.service
        payload = message.payload
        token = seal(
            service.rings[message.network],
            Purpose.BACKCHANNEL,
            issuer=service.origin,
            audience=message.peer,
            subject=str(payload.get("sub", "")),
            ttl=service.settings.backchannel_lifetime,
            ip="",
            jti=message.id.encode("ascii"),
            extra={"k": message.kind, **{k: v for k, v in payload.items() if k != "sub"}},
        )
        url = f"{message.url}{service.prefix}backchannel"
        error: str
        try:
            response = await service.http.post(url, content=token, headers={"content-type": "text/plain"})
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
            service.health.mark(message.peer, False)
        else:
            if 200 <= response.status_code < 300:
                await service.stores.outbox.delivered(message.id, time.time())
                service.health.mark(message.peer, True)
                logger.info("%s message delivered to %s", message.kind, message.peer)
                return
            error = f"HTTP {response.status_code}"
        attempts = message.attempts + 1
        now = time.time()
        delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        abandon = now - message.created_at > MESSAGE_MAX_AGE
        await service.stores.outbox.failed(message.id, error=error, next_attempt_at=now + delay, abandon=abandon)
        log = logger.error if abandon else logger.warning
        log(
            "%s message to %s failed (%s), attempt %d; %s",
            message.kind,
            message.peer,
            error,
            attempts,
            "abandoned: too old" if abandon else f"retrying in {delay:.1f}s",
        )


class PeerHealth:
    """Which peers answer, so that no browser is sent to a site that is down."""

    UP_FOR = 10.0  # seconds a good answer is trusted
    DOWN_FOR = 3.0  # seconds a failure is trusted before asking again

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self._known: dict[str, tuple[bool, float]] = {}

    def mark(self, origin: str, up: bool) -> None:
        self._known[origin] = (up, time.monotonic())

    async def alive(self, peers: Sequence[tuple[Network, Peer]]) -> list[tuple[Network, Peer]]:
        now = time.monotonic()
        stale = [
            peer
            for _, peer in peers
            if (known := self._known.get(peer.origin)) is None
            or now - known[1] > (self.UP_FOR if known[0] else self.DOWN_FOR)
        ]
        if stale:
            results = await asyncio.gather(*(self._probe(p) for p in stale))
            for peer, up in zip(stale, results, strict=True):
                self.mark(peer.origin, up)
                if not up:
                    logger.warning("peer %s is not answering; left out of sign-in sync for now", peer.origin)
        return [(n, p) for n, p in peers if self._known.get(p.origin, (False, 0.0))[0]]

    async def _probe(self, peer: Peer) -> bool:
        url = f"{peer.backchannel_url}{self.service.prefix}ping"
        try:
            response = await self.service.http.get(url, timeout=min(self.service.settings.peer_timeout, 1.0))
        except httpx.HTTPError:
            return False
        return response.status_code == 204
