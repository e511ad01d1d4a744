"""The outbox in memory (tests, development): one dict, in the order messages were added."""

from __future__ import annotations

import dataclasses
import time

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.base import (
    DROPPED_BY_OPERATOR,
    MessageStatus,
    OutboxMessage,
    finish_time,
    new_id,
)


def _compacted(table: dict[str, OutboxMessage], deleted: int) -> dict[str, OutboxMessage]:
    # A dict keeps its grown table after deletions; copy it when most of it is gone.
    return dict(table) if deleted > len(table) else table


def queue_of(message: OutboxMessage) -> tuple[str, str]:
    """The queue a message belongs to: its peer and the user it is about."""
    return message.peer, str(message.payload.get("sub", ""))


class MemoryOutbox:
    """Messages in a dict kept in the order they were added: that order is each queue's."""

    def __init__(self) -> None:
        self._messages: dict[str, OutboxMessage] = {}
        self._generation = new_id()

    async def add(self, messages: list[OutboxMessage]) -> None:
        ids = [m.id for m in messages]
        if len(set(ids)) != len(ids) or any(i in self._messages for i in ids):
            raise StoreError("outbox: a message with this id exists already")
        for message in messages:
            self._messages[message.id] = message

    def _firsts(self) -> set[str]:
        """The first pending message of every queue (a dict keeps insertion order)."""
        firsts: dict[tuple[str, str], str] = {}
        for message in self._messages.values():
            if message.status is MessageStatus.PENDING:
                firsts.setdefault(queue_of(message), message.id)
        return set(firsts.values())

    async def generation(self) -> str:
        return self._generation

    async def get(self, message_id: str) -> OutboxMessage | None:
        return self._messages.get(message_id)

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        firsts = self._firsts()
        order = {message_id: n for n, message_id in enumerate(self._messages)}
        due = sorted(
            (self._messages[i] for i in firsts if self._messages[i].next_attempt_at <= now),
            key=lambda m: (m.next_attempt_at, order[m.id]),
        )
        return await self.claim([m.id for m in due[:limit]], now, lease)

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        claimed = []
        firsts = self._firsts()
        for message_id in ids:
            message = self._messages.get(message_id)
            if message is None or message.status is not MessageStatus.PENDING or message.next_attempt_at > now:
                continue
            if message_id not in firsts:
                continue
            message = self._messages[message_id] = dataclasses.replace(message, next_attempt_at=now + lease)
            claimed.append(message)
        return claimed

    async def delivered(self, message_id: str, when: float) -> None:
        message = self._messages.get(message_id)
        if message is None or message.status is MessageStatus.DELIVERED:
            return
        self._messages[message_id] = dataclasses.replace(
            message, status=MessageStatus.DELIVERED, delivered_at=when, finished_at=when, attempts=message.attempts + 1
        )

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None:
        message = self._messages.get(message_id)
        if message is None or message.status is not MessageStatus.PENDING:
            return
        self._messages[message_id] = dataclasses.replace(
            message,
            attempts=message.attempts + 1,
            last_error=error,
            next_attempt_at=next_attempt_at,
            status=MessageStatus.ABANDONED if abandon else MessageStatus.PENDING,
            finished_at=time.time() if abandon else None,
        )

    async def retry_now(self, peer: str, now: float) -> int:
        moved = [
            m
            for m in self._messages.values()
            if m.peer == peer and m.status is MessageStatus.PENDING and m.next_attempt_at > now
        ]
        for message in moved:
            self._messages[message.id] = dataclasses.replace(message, next_attempt_at=now)
        return len(moved)

    async def drop(self, ids: list[str]) -> int:
        now = time.time()
        dropped = 0
        for message_id in dict.fromkeys(ids):
            message = self._messages.get(message_id)
            if message is not None and message.status is MessageStatus.PENDING:
                self._messages[message_id] = dataclasses.replace(
                    message, status=MessageStatus.ABANDONED, last_error=DROPPED_BY_OPERATOR, finished_at=now
                )
                dropped += 1
        return dropped

    async def pending(self) -> list[OutboxMessage]:
        return sorted(
            (m for m in self._messages.values() if m.status is MessageStatus.PENDING),
            key=lambda m: (m.created_at, m.id),
        )

    async def purge(self, finished_before: float) -> int:
        old = [
            m.id
            for m in self._messages.values()
            if m.status is not MessageStatus.PENDING and finish_time(m) < finished_before
        ]
        for message_id in old:
            del self._messages[message_id]
        self._messages = _compacted(self._messages, len(old))
        return len(old)
