"""What this process put in the outbox and has not seen finished, so that a sign-out the
browser saw is never lost (issue #23; docs/operations.md, "When a store is down").

- **Held**: a message the outbox could not take (its store does not answer) is kept here,
  in order, and written when the store takes it again: at every worker round, at once when
  the store says it is back, and before any later message (so a queue keeps its order).
  Its sign-out was answered as done, so the browser saw it: it must not be lost. At most
  :data:`MAX_HELD` are held; past that, and at shutdown with some still held, an ERROR
  line says how many were lost.
- **Kept**: a message this process wrote stays here until this process delivers or
  abandons it, or sees it finished in the store (looked up a batch at a time). Every
  :data:`CHECK_EVERY` seconds the worker asks the outbox its generation
  (:meth:`~asgi_sessionsync.stores.Outbox.generation`); another one means the store lost
  its data (a Redis server restarted empty): an ERROR line says so, with how many messages
  were pending when last looked, and the kept ones are queued again with their ids (peers
  apply an id once). Messages other processes queued are lost with the data, and the line
  says that too. At most :data:`MAX_KEPT` are kept (the oldest are let go: they are in
  the store).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import anyio

from asgi_sessionsync.exceptions import StoreError, StoreUnavailable
from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.stores import MessageStatus, Outbox, OutboxMessage

MAX_HELD = 10_000
MAX_KEPT = 10_000
CHECK_EVERY = 5.0  # seconds between two looks at the outbox's generation and at kept messages
BATCH = 100  # messages written, or looked up, at a time


class Ledger:
    """The held and kept messages of one courier; see the module docstring."""

    def __init__(self, outbox: Outbox, log: SiteLog) -> None:
        self.outbox = outbox
        self.log = log
        self.held: list[OutboxMessage] = []
        self.kept: dict[str, OutboxMessage] = {}
        self.generation: str | None = None
        self.seen_pending = 0  # pending messages in the outbox when the worker last looked
        self.lost = 0  # held messages let go (past MAX_HELD)
        self._checked_at = float("-inf")
        self._lock: anyio.Lock | None = None  # one flush or look at a time (a request's and the worker's)

    @property
    def lock(self) -> anyio.Lock:
        if self._lock is None:
            self._lock = anyio.Lock()
        return self._lock

    async def write(self, messages: Sequence[OutboxMessage]) -> bool:
        """Write ``messages`` to the outbox; False when it cannot take them now: they are
        held, to be written when it can."""
        if self.held and not await self.flush():
            return self.hold(messages)
        try:
            if self.generation is None:
                self.generation = await self.outbox.generation()
            await self.outbox.add(list(messages))
        except StoreUnavailable:
            return self.hold(messages)
        self.keep(messages)
        return True

    def hold(self, messages: Iterable[OutboxMessage]) -> bool:
        for message in messages:
            if len(self.held) >= MAX_HELD:
                self.lost += 1
                continue
            self.held.append(message)
        return False

    def keep(self, messages: Iterable[OutboxMessage]) -> None:
        for message in messages:
            self.kept[message.id] = message
        while len(self.kept) > MAX_KEPT:
            del self.kept[next(iter(self.kept))]

    def finished(self, ids: Iterable[str]) -> None:
        """Delivered or abandoned by this process: no longer kept."""
        for message_id in ids:
            self.kept.pop(message_id, None)

    async def flush(self) -> bool:
        """Write the held messages, oldest first; True when none is left held."""
        async with self.lock:
            return await self._flush()

    async def _flush(self) -> bool:
        if self.lost:
            self.log.error(
                "%d sign-out message(s) could not be kept in this process while the store was down (more than %d): "
                "those peers were not told",
                self.lost,
                MAX_HELD,
            )
            self.lost = 0
        written = 0
        while self.held:
            batch = self.held[:BATCH]
            try:
                await self._add(batch)
            except StoreUnavailable:
                break
            del self.held[: len(batch)]
            self.keep(batch)
            written += len(batch)
        if written:
            self.log.warning(
                "%d message(s) kept in this process while the store was down written to the outbox now", written
            )
        return not self.held

    async def _add(self, batch: list[OutboxMessage]) -> None:
        """Add, skipping messages the outbox has already (written before it failed to say so)."""
        try:
            await self.outbox.add(batch)
        except StoreUnavailable:
            raise
        except StoreError:
            for message in batch:
                if await self.outbox.get(message.id) is None:
                    await self.outbox.add([message])

    async def round(self) -> None:
        """The worker's look, every round: write what is held; every CHECK_EVERY seconds,
        compare the generation and let go of kept messages finished elsewhere."""
        if self.held:
            await self.flush()
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY:
            return
        self._checked_at = now
        async with self.lock:
            try:
                generation = await self.outbox.generation()
            except StoreUnavailable:
                return
            seen, self.generation = self.generation, generation
            if seen is not None and generation != seen:
                await self._requeue()
            await self._let_go()

    async def _requeue(self) -> None:
        lost = list(self.kept.values())
        self.log.error(
            "the outbox lost its data (its store started again empty?): %d message(s) were pending when last "
            "looked; the %d this process queued and had not seen delivered are queued again, any others are lost",
            self.seen_pending,
            len(lost),
        )
        for start in range(0, len(lost), BATCH):
            await self._add(lost[start : start + BATCH])

    async def _let_go(self) -> None:
        """Forget kept messages the store says are finished (by another process)."""
        for message_id in list(self.kept)[:BATCH]:
            stored = await self.outbox.get(message_id)
            if stored is not None and stored.status is not MessageStatus.PENDING:
                self.kept.pop(message_id, None)
            elif stored is not None:
                self.kept[message_id] = self.kept.pop(message_id)  # to the back: look at others next

    async def close(self) -> None:
        """At shutdown: a last try to write what is held; say what could not be."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            if self.held:
                await self.flush()
        if self.held:
            self.log.error(
                "%d message(s) kept in this process while the store was down could not be written before it "
                "stopped: those peers were not told",
                len(self.held),
            )
            self.held.clear()
