"""The courier: the durable sender of back-channel messages to peers.

A sign-out writes one message per peer into the outbox *before* anything is sent, so a crash or a
peer that is down loses nothing: the courier retries with exponential back-off until the peer
answers 2xx or the message is too old to matter. Each message keeps its id across retries and the
receiver applies an id once. A peer seen alive again (a probe or a delivery succeeds) gets its
queued messages at once. Messages follow the current configuration: they go to the peer's current
back-channel URL, and a message for a peer no longer configured is abandoned. The outbox gives one
message of each queue (peer and user) at a time, so a queue is delivered in the order it was made.

What the outbox cannot take while its store is down is held in this process and written when it
is back, and what this process queued is queued again if the store loses its data
(:mod:`.ledger`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import anyio
from anyio.abc import TaskGroup, TaskStatus

from asgi_sessionsync.activity import ActivityRecorder
from asgi_sessionsync.exceptions import SessionSyncError, StoreUnavailable
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.peers.backlog import BacklogWatch
from asgi_sessionsync.peers.client import PeerClient, PeerEntry
from asgi_sessionsync.peers.delivery import Delivery, Sender, logger, logout_messages, logout_peers
from asgi_sessionsync.peers.health import PeerHealth
from asgi_sessionsync.peers.ledger import Ledger
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import Outbox, OutboxMessage
from asgi_sessionsync.tokens import Tokens

POLL_INTERVAL = 1.0
RECOVERY_EVERY = 1.0  # seconds between two probes of a peer whose messages wait after a failure


async def retry_now(outbox: Outbox, peer: str, now: float) -> int:
    """Make every pending message for ``peer`` due at ``now``; how many moved earlier."""
    return await outbox.retry_now(peer, now)


async def drop(outbox: Outbox, ids: Sequence[str]) -> int:
    """Abandon these pending messages ("dropped by operator"); how many."""
    return await outbox.drop(list(ids))


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
        *,
        activity: ActivityRecorder | None = None,
    ) -> None:
        """``activity``: what each delivery attempt records in the activity log (the
        site's; none given: nothing is recorded)."""
        self.settings = settings
        self.outbox = outbox
        self.tokens = tokens
        self.client = client
        self.health = health
        self.peers = tuple(peers)
        self._by_origin = {peer.site_id: (network, peer) for network, peer in self.peers}
        self.lease = settings.peer_timeout * 2 + 5.0
        self.log = site_log(logger.name, settings.site_id)
        health.on_recovered = self.peer_recovered
        self.activity = activity if activity is not None else ActivityRecorder(settings.site_id, None)
        self.ledger = Ledger(outbox, self.log)  # held while the store is down, kept in case it loses data
        self.backlog = BacklogWatch(self.log)  # a repeating warning per peer whose messages keep failing
        self._sender = Sender(settings, outbox, tokens, client, health, self._by_origin, self.log, self.peer_recovered)
        # Made by the running worker (anyio objects need a running event loop).
        self._wake: anyio.Event | None = None
        self._group: TaskGroup | None = None
        # True in a process without the server (a Django shell): messages are written to
        # the outbox only, and the server's worker delivers them.
        self.queue_only = False

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
        to = logout_peers(self.peers, self.settings.user_sync.network_rules)
        messages = logout_messages(to, email, chain, when, reason, seen_before, time.time())
        await self.dispatch(messages, wait=self.settings.logout_wait if wait else 0.0)

    async def dispatch(self, messages: list[OutboxMessage], *, wait: float) -> None:
        """Write ``messages`` to the outbox, then try to deliver them now, waiting at most
        ``wait`` seconds for confirmations (the rest stays queued for the worker)."""
        # Held here until the store is back when the outbox cannot take them; queued only
        # (delivered by the server's worker) in a process without one.
        if messages and await self.ledger.write(messages) and not self.queue_only:
            await _deliver_soon(self, [m.id for m in messages], wait, self.settings.peer_timeout)

    async def deliver(self, ids: list[str]) -> list[Delivery]:
        claimed = await self.outbox.claim(ids, time.time(), self.lease)
        return await self._send_all(claimed)

    async def deliver_due(self, now: float | None = None) -> int:
        """Send every message due by ``now``; return how many were attempted."""
        claimed = await self.outbox.claim_due(time.time() if now is None else now, self.lease)
        await self._send_all(claimed)
        return len(claimed)

    async def peer_recovered(self, origin: str) -> None:
        """A peer answers again: its queued messages are due now, and the worker wakes.
        (A speed-up: with the store down, they go at their own time.)"""
        try:
            moved = await retry_now(self.outbox, origin, time.time())
        except StoreUnavailable:
            return
        if moved:
            self.log.info("peer %s is reachable again: %d queued message(s) sent now", origin, moved)
            if self._wake is not None:
                self._wake.set()

    async def _send_all(self, messages: Sequence[OutboxMessage]) -> list[Delivery]:
        results: list[Delivery] = []

        async def send(message: OutboxMessage) -> None:
            delivery = await self._send(message)
            results.append(delivery)
            if delivery.delivered or delivery.abandoned:
                self.ledger.finished([message.id])
            await self.activity.delivery(delivery)  # the one place a sent message is recorded

        if len(messages) == 1:
            await send(messages[0])
        elif messages:
            async with anyio.create_task_group() as group:
                for message in messages:
                    group.start_soon(send, message)
        return results

    @property
    def running(self) -> bool:
        return self._group is not None

    def wake(self) -> None:
        """Start the next round now (the store is back: write what is held)."""
        if self._wake is not None:
            self._wake.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The retry worker: deliver what is due, forever (cancel to stop). Sign-outs
        also deliver in its task group, so they outlive the request that made them.
        Every few seconds it asks after the peers whose messages wait, so that a peer
        back up gets them at once rather than at the end of its back-off. ``task_status``
        is told once the worker takes sign-outs (for ``TaskGroup.start``)."""
        async with anyio.create_task_group() as group:
            self._group = group
            task_status.started()
            last_probe = time.monotonic()
            try:
                while True:
                    self._wake = anyio.Event()
                    busy = False
                    try:
                        await self.ledger.round()
                        busy = await self.deliver_due() > 0  # a queue's next message may be due now
                        if time.monotonic() - last_probe >= RECOVERY_EVERY:
                            last_probe = time.monotonic()
                            await _probe_waiting(self)
                    except StoreUnavailable:
                        pass  # said once by the store's availability; try again next round
                    except SessionSyncError as error:  # a store hiccup: say so, try again next round
                        self.log.error("outbox delivery round failed (%s); retrying", error)
                    except Exception:  # the worker must outlive anything; a bug deserves its traceback
                        self.log.exception("outbox delivery round failed; retrying")
                    if not busy:
                        with anyio.move_on_after(POLL_INTERVAL):
                            await self._wake.wait()
            finally:
                self._group = self._wake = None
                await self.ledger.close()

    async def _send(self, message: OutboxMessage) -> Delivery:
        return await self._sender.send(message)


async def _deliver_soon(courier: Courier, ids: list[str], wait: float, at_least: float) -> None:
    """Deliver ``ids`` in the worker's task group (they outlive the caller), waiting at most
    ``wait`` for it; without a worker (no lifespan), here, as long as we may wait."""
    group = courier._group
    if group is None:
        with anyio.move_on_after(max(wait, at_least)):
            await courier.deliver(ids)
        return
    done = anyio.Event()

    async def deliver_then_tell() -> None:
        # In the worker's task group: whatever fails here must not end the worker. The
        # messages are queued; a later round sends them.
        try:
            await courier.deliver(ids)
        except StoreUnavailable:
            pass  # said once by the store's availability
        except SessionSyncError as error:
            courier.log.error("sending queued messages failed (%s); the worker tries again", error)
        except Exception:
            courier.log.exception("sending queued messages failed; the worker tries again")
        finally:
            done.set()

    group.start_soon(deliver_then_tell)
    if wait > 0:
        with anyio.move_on_after(wait):
            await done.wait()


async def _probe_waiting(courier: Courier) -> None:
    """Say what waits for each peer after failing (:class:`BacklogWatch`). Ask after each
    peer whose messages wait after a failed attempt and are not due within the next
    round; one that answers well gets them now, so a peer back up gets its queue within
    about a second rather than at the end of its back-off. (A retry in flight at that
    moment may then be sent twice: receivers apply a message id once.)"""
    now = time.time()
    later = now + RECOVERY_EVERY
    pending = await courier.outbox.pending()
    courier.ledger.seen_pending = len(pending)
    courier.backlog.observe(pending, now)
    waiting = {m.peer for m in pending if m.attempts > 0 and m.next_attempt_at > later}
    entries = [courier._by_origin[o] for o in sorted(waiting) if o in courier._by_origin]

    async def probe(entry: PeerEntry) -> None:
        if (await courier.health.check(entry, RECOVERY_EVERY)).ok:
            await courier.peer_recovered(entry[1].site_id)

    if entries:
        async with anyio.create_task_group() as group:
            for entry in entries:
                group.start_soon(probe, entry)
