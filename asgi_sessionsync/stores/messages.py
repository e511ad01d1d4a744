"""The protocols of the back-channel's two stores, the replay cache and the outbox
(re-exported by :mod:`.base`, whose conventions hold here too)."""

from __future__ import annotations

from typing import Protocol

from asgi_sessionsync.stores.records import OutboxMessage


class MarkStore(Protocol):
    """Single-use marks with an expiry: what verification keeps (a code's tries, a hold
    completed, codes sent to an address, an address verified for a peer). Each mark is an
    opaque id (an HMAC: the store learns no address or code). Every :class:`ReplayCache`
    is one (the built-in backends keep marks beside used envelope ids), but a mark is not
    an envelope id, and a backend may keep them apart."""

    async def use(self, jti: bytes, expires_at: float) -> bool:
        """Set the mark until ``expires_at``; True only for the one call that set it
        (exactly one of any number of concurrent calls, across processes)."""
        ...

    async def seen(self, jti: bytes) -> bool:
        """Whether the mark is set (and not expired)."""
        ...


class ReplayCache(Protocol):
    """Ids of envelopes already used, each remembered until its own expiry.

    An id is *recorded* from :meth:`use` until ``expires_at`` inclusive; after that it
    is as if never used. ``jti`` is opaque bytes.
    """

    async def use(self, jti: bytes, expires_at: float) -> bool:
        """Record ``jti`` until ``expires_at``; True only when it was not recorded.

        Exactly one of any number of concurrent calls with one ``jti`` returns True,
        across processes sharing the store. An id whose record expired can be used
        again. ``expires_at`` in the past still returns True and records nothing lasting.
        Reads the clock to tell expired records.
        """
        ...

    async def seen(self, jti: bytes) -> bool:
        """True while ``jti`` is recorded; False when never used or expired. Reads the clock."""
        ...

    async def release(self, jti: bytes) -> bool:
        """Forget ``jti``: as if never used (a claim given back, so that a retry can win
        it). True when it was recorded. Idempotent."""
        ...

    async def purge(self, now: float) -> int:
        """Delete ids that expired before ``now``; return how many this call deleted
        (``0`` where the backend deletes them by itself, like Redis)."""
        ...


class Outbox(Protocol):
    """Back-channel messages, durable until delivered or abandoned.

    A pending message is *due* when ``next_attempt_at <= now``. Claiming one is a lease:
    its ``next_attempt_at`` moves to ``now + lease`` so that no other claimer gets it
    until the lease ends; the claimer then reports :meth:`delivered` or :meth:`failed`.

    **One queue per peer and user, first in, first out.** The pending messages for one
    ``peer`` about one user (``payload["sub"]``) form a queue, in the order they were
    added (across processes: the order the store took them; a batch in its own order).
    Only the first pending message of a queue can be claimed: a sign-out never overtakes
    the user change queued before it, and a later change never lands before an earlier
    one, whatever their due times; the next one can be claimed once the first is
    delivered or abandoned. Queues of other users and other peers do not wait.
    """

    async def add(self, messages: list[OutboxMessage]) -> None:
        """Store new messages exactly as given: all of them or, on error, none.

        Raises :class:`StoreError` when an id exists already."""
        ...

    async def get(self, message_id: str) -> OutboxMessage | None:
        """The message, in any status, or ``None`` when unknown or purged."""
        ...

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        """Lease up to ``limit`` pending messages due by ``now``, each the first of its
        queue (earliest ``next_attempt_at`` first, ties in the order they were queued)
        and return them as stored after the lease (``next_attempt_at == now + lease``).
        Concurrent claimers never get the same message."""
        ...

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        """Lease these messages, in the order given, skipping those unknown, not
        pending, not due (held by another claimer's lease) or not first of their queue;
        returned as by :meth:`claim_due`."""
        ...

    async def delivered(self, message_id: str, when: float) -> None:
        """Mark delivered: ``status = delivered``, ``delivered_at = finished_at = when``,
        ``attempts + 1``. Applies to a pending or abandoned message (a message dropped
        while in flight that did arrive is recorded as delivered); unknown or already
        delivered: no-op."""
        ...

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None:
        """Record a failed attempt of a pending message: ``attempts + 1``,
        ``last_error = error``, due again at ``next_attempt_at``; with ``abandon`` it
        becomes abandoned instead (``finished_at`` = now, read from the clock).
        Unknown or finished (delivered, abandoned): no-op, so a late report never
        resurrects a message."""
        ...

    async def retry_now(self, peer: str, now: float) -> int:
        """Make every pending message for ``peer`` (its origin) due at ``now``: a peer
        seen alive again gets its queues at once (each still in its order). Returns how
        many were moved earlier.
        A message under a lease is made due too, so it may be sent twice: receivers
        apply a message id once."""
        ...

    async def drop(self, ids: list[str]) -> int:
        """Abandon these pending messages (``last_error = "dropped by operator"``,
        ``finished_at`` = now, read from the clock); return how many. Others: ignored."""
        ...

    async def pending(self) -> list[OutboxMessage]:
        """Every pending message, oldest first (``created_at``, ties by id)."""
        ...

    async def purge(self, finished_before: float) -> int:
        """Delete delivered and abandoned messages with ``finished_at < finished_before``;
        return how many this call deleted. Pending messages are never deleted."""
        ...

    async def generation(self) -> str:
        """An id of the outbox's data: the same, in every process, for as long as the data
        lasts; another once it was lost (a Redis server restarted empty). Made at the
        first call when there is none. The courier compares it to tell a store that lost
        its queue (docs/operations.md, "When a store is down")."""
        ...
