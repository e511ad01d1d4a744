"""In-memory stores: for tests and single-process development. Nothing survives a restart."""

from __future__ import annotations

import dataclasses
import heapq
import time

from asgi_sessionsync.stores.base import (
    MessageStatus,
    OutboxMessage,
    SessionRecord,
    Stores,
    User,
    normalize_email,
)


class MemoryUserStore:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    async def get(self, email: str) -> User | None:
        return self._users.get(normalize_email(email))

    async def create(self, user: User) -> User:
        key = normalize_email(user.email)
        return self._users.setdefault(key, dataclasses.replace(user, email=key))

    async def list(self, limit: int = 1000) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.email)[:limit]


class MemorySessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}

    async def create(self, record: SessionRecord) -> None:
        self._sessions[record.sid] = record

    async def get(self, sid: str) -> SessionRecord | None:
        return self._sessions.get(sid)

    async def touch(self, sid: str, when: float) -> None:
        record = self._sessions.get(sid)
        if record is not None:
            self._sessions[sid] = dataclasses.replace(record, last_seen_at=when)

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        record = self._sessions.get(sid)
        if record is None or not record.active:
            return False
        self._sessions[sid] = dataclasses.replace(record, ended_at=when, end_reason=reason)
        return True

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        user = normalize_email(user)
        ended = 0
        for record in list(self._sessions.values()):
            if (
                record.user == user
                and record.active
                and (chain is None or record.chain == chain)
                and (created_before is None or record.created_at <= created_before)
            ):
                self._sessions[record.sid] = dataclasses.replace(record, ended_at=when, end_reason=reason)
                ended += 1
        return ended

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        wanted = normalize_email(user) if user else None
        records = [
            r for r in self._sessions.values() if (wanted is None or r.user == wanted) and (include_ended or r.active)
        ]
        return sorted(records, key=lambda r: r.created_at, reverse=True)[:limit]


class MemoryReplayCache:
    def __init__(self) -> None:
        self._used: dict[bytes, float] = {}
        self._expiries: list[tuple[float, bytes]] = []

    async def use(self, jti: bytes, expires_at: float) -> bool:
        now = time.time()
        while self._expiries and self._expiries[0][0] < now:
            _, old = heapq.heappop(self._expiries)
            if self._used.get(old, now) < now:
                del self._used[old]
        if jti in self._used:
            return False
        self._used[jti] = expires_at
        heapq.heappush(self._expiries, (expires_at, jti))
        return True

    async def seen(self, jti: bytes) -> bool:
        return jti in self._used


class MemoryOutbox:
    def __init__(self) -> None:
        self._messages: dict[str, OutboxMessage] = {}

    async def add(self, messages: list[OutboxMessage]) -> None:
        for message in messages:
            self._messages[message.id] = message

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        due = [m.id for m in self._messages.values() if m.status is MessageStatus.PENDING and m.next_attempt_at <= now]
        return await self.claim(due[:limit], now, lease)

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        claimed = []
        for message_id in ids:
            message = self._messages.get(message_id)
            if message is None or message.status is not MessageStatus.PENDING or message.next_attempt_at > now:
                continue
            self._messages[message_id] = dataclasses.replace(message, next_attempt_at=now + lease)
            claimed.append(message)
        return claimed

    async def delivered(self, message_id: str, when: float) -> None:
        message = self._messages[message_id]
        self._messages[message_id] = dataclasses.replace(
            message, status=MessageStatus.DELIVERED, delivered_at=when, attempts=message.attempts + 1
        )

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None:
        message = self._messages[message_id]
        self._messages[message_id] = dataclasses.replace(
            message,
            attempts=message.attempts + 1,
            last_error=error,
            next_attempt_at=next_attempt_at,
            status=MessageStatus.ABANDONED if abandon else MessageStatus.PENDING,
        )

    async def pending(self) -> list[OutboxMessage]:
        return sorted(
            (m for m in self._messages.values() if m.status is MessageStatus.PENDING),
            key=lambda m: m.created_at,
        )


def memory_stores() -> Stores:
    return Stores(
        users=MemoryUserStore(),
        sessions=MemorySessionRegistry(),
        replay=MemoryReplayCache(),
        outbox=MemoryOutbox(),
    )
