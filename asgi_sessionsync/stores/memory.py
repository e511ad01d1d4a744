"""In-memory stores: for tests and single-process development. Nothing survives a restart.

Bounded like the others: expired replay ids are freed as new ones come in, and
:meth:`Stores.purge` frees ended sessions and finished messages (the dicts are
rebuilt after a large purge, since a Python dict never gives back its table by itself).
"""

from __future__ import annotations

import builtins
import dataclasses
import heapq
import time
from collections.abc import Sequence
from typing import TypeVar

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.base import (
    EXPIRED,
    PAGE_BUDGET,
    ImportCounts,
    SessionFilter,
    SessionKey,
    SessionPage,
    SessionRecord,
    Stores,
    User,
    normalize_email,
)
from asgi_sessionsync.stores.memory_activity import MemoryActivityLog
from asgi_sessionsync.stores.memory_outbox import MemoryOutbox
from asgi_sessionsync.stores.paging import page_of
from asgi_sessionsync.stores.versions import Applied, Tombstone, UserChange, merge

__all__ = [
    "MemoryActivityLog",
    "MemoryOutbox",
    "MemoryReplayCache",
    "MemorySessionRegistry",
    "MemoryUserStore",
    "memory_stores",
]

K = TypeVar("K")
V = TypeVar("V")


def _compacted(table: dict[K, V], deleted: int) -> dict[K, V]:
    # A dict keeps its grown table after deletions; copy it when most of it is gone.
    return dict(table) if deleted > len(table) else table


class MemoryUserStore:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._tombstones: dict[str, Tombstone] = {}

    async def get(self, email: str) -> User | None:
        return self._users.get(normalize_email(email))

    async def create(self, user: User) -> User:
        key = normalize_email(user.email)
        stored = self._users.get(key)
        if stored is None:
            stored = self._users[key] = dataclasses.replace(user, email=key, created_at=user.created_at or time.time())
        return stored

    async def list_users(
        self,
        *,
        role: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        after: str | None = None,
        prefix: str | None = None,
    ) -> list[User]:
        start, begins = normalize_email(after) if after else "", normalize_email(prefix) if prefix else ""
        emails = sorted(
            e for e, u in self._users.items() if (role is None or u.role == role) and e > start and e.startswith(begins)
        )
        return [self._users[e] for e in emails[offset : offset + limit]]

    async def import_users(self, users: Sequence[User], *, replace: bool = False) -> ImportCounts:
        now = time.time()
        batch = {normalize_email(u.email): u for u in users}  # the later one wins
        created = updated = skipped = 0
        for key, user in batch.items():
            if key not in self._users:
                created += 1
            elif replace:
                updated += 1
            else:
                skipped += 1
                continue
            stored = self._users.get(key)  # an overwrite keeps the user's sync versions
            versions = stored.versions if stored is not None else user.versions
            self._users[key] = dataclasses.replace(
                user, email=key, created_at=user.created_at or now, versions=versions
            )
        return ImportCounts(created, updated, skipped)

    async def apply(self, change: UserChange) -> Applied:
        # No await between reading and writing: atomic on the one event loop.
        key = normalize_email(change.email)
        result = merge(self._users.get(key), self._tombstones.get(key), change)
        if result.changed:
            if result.user is None:
                self._users.pop(key, None)
            else:
                self._users[key] = result.user
            if result.tombstone is None:
                self._tombstones.pop(key, None)
            else:
                self._tombstones[key] = result.tombstone
        return result

    async def tombstone(self, email: str) -> Tombstone | None:
        return self._tombstones.get(normalize_email(email))

    async def purge_tombstones(self, deleted_before: float) -> int:
        old = [k for k, t in self._tombstones.items() if t.deleted_at < deleted_before and not t.final]
        for key in old:
            del self._tombstones[key]
        self._tombstones = _compacted(self._tombstones, len(old))
        return len(old)


class MemorySessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._by_ref: dict[str, dict[str, None]] = {}  # app_ref -> sids
        self._by_user: dict[str, dict[str, None]] = {}  # user -> sids (in order): no scan per sign-in

    async def create(self, record: SessionRecord) -> None:
        if record.sid in self._sessions:
            raise StoreError("session registry: a session with this sid exists already")
        user = normalize_email(record.user)
        self._sessions[record.sid] = record if user == record.user else dataclasses.replace(record, user=user)
        self._by_user.setdefault(user, {})[record.sid] = None
        if record.app_ref is not None:
            self._by_ref.setdefault(record.app_ref, {})[record.sid] = None

    async def find_by_app_ref(self, ref: str) -> SessionRecord | None:
        records = [self._sessions[sid] for sid in self._by_ref.get(ref, ())]
        if not records:
            return None
        return max(records, key=lambda r: (not r.active, r.created_at, r.sid))

    async def get(self, sid: str) -> SessionRecord | None:
        return self._sessions.get(sid)

    def peek(self, sid: str) -> SessionRecord | None:
        return self._sessions.get(sid)

    async def touch(self, sid: str, when: float) -> None:
        record = self._sessions.get(sid)
        if record is not None:
            self._sessions[sid] = dataclasses.replace(record, last_seen_at=when)

    def _end(self, record: SessionRecord, reason: str, when: float) -> None:
        self._sessions[record.sid] = dataclasses.replace(record, ended_at=when, end_reason=reason)

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        record = self._sessions.get(sid)
        if record is None or not record.active:
            return False
        self._end(record, reason, when)
        return True

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        matching = [
            r
            for r in self._of(user)
            if r.active
            and (chain is None or r.chain == chain)
            and (created_before is None or r.created_at <= created_before)
        ]
        for record in matching:
            self._end(record, reason, when)
        return len(matching)

    async def end_chain_except(self, chain: str, keep_sid: str, *, reason: str, when: float) -> int:
        matching = [r for r in self._sessions.values() if r.chain == chain and r.sid != keep_sid and r.active]
        for record in matching:
            self._end(record, reason, when)
        return len(matching)

    async def expire(self, now: float) -> int:
        matching = [r for r in self._sessions.values() if r.active and r.expires_at is not None and r.expires_at < now]
        for record in matching:
            assert record.expires_at is not None
            self._end(record, EXPIRED, record.expires_at)
        return len(matching)

    async def purge(self, ended_before: float) -> int:
        old = [sid for sid, r in self._sessions.items() if r.ended_at is not None and r.ended_at < ended_before]
        for sid in old:
            self._forget(sid)
        self._sessions = _compacted(self._sessions, len(old))
        return len(old)

    async def active(self, user: str) -> builtins.list[SessionRecord]:
        return await self.list(user=user)

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        records = [r for r in (self._of(user) if user else self._sessions.values()) if include_ended or r.active]
        return sorted(records, key=lambda r: (r.created_at, r.sid), reverse=True)[:limit]

    # -- governance ------------------------------------------------------------------------

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        records = [
            r
            for r in (self._of(user) if user else self._sessions.values())
            if (ip is None or r.ip == ip) and (since is None or r.created_at >= since) and (not active or r.active)
        ]
        return sorted(records, key=lambda r: (r.created_at, r.sid), reverse=True)[:limit]

    async def page(
        self,
        where: SessionFilter,
        *,
        after: SessionKey | None = None,
        limit: int = 50,
        budget: int = PAGE_BUDGET,
    ) -> SessionPage:
        # The index walked: the user's sessions, else the address's, else all (the contract's).
        if where.user is not None:
            walked = self._of(where.user)
        else:
            walked = [r for r in self._sessions.values() if where.ip is None or r.ip == where.ip]
        walked.sort(key=lambda r: (r.created_at, r.sid), reverse=True)
        return page_of(walked, where, after, limit, budget)

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        found = [
            r
            for r in self._sessions.values()
            if r.active and r.last_seen_at < seen_before and (after is None or (r.last_seen_at, r.sid) > after)
        ]
        return sorted(found, key=lambda r: (r.last_seen_at, r.sid))[:limit]

    async def erase_user(self, user: str) -> int:
        gone = [r.sid for r in self._of(user)]
        for sid in gone:
            self._forget(sid)
        return len(gone)

    def _of(self, user: str) -> builtins.list[SessionRecord]:
        """The user's sessions, oldest first, from the index."""
        return [self._sessions[sid] for sid in self._by_user.get(normalize_email(user), ())]

    def _forget(self, sid: str) -> None:
        """The session gone from the registry and from both indexes."""
        record = self._sessions.pop(sid)
        for index, key in ((self._by_ref, record.app_ref), (self._by_user, record.user)):
            if key is not None and (sids := index.get(key)) is not None:
                sids.pop(sid, None)
                if not sids:
                    del index[key]


class MemoryReplayCache:
    """Used ids with their expiry, and a heap of expiries so that each ``use`` frees
    the ids that expired (amortized O(log n), no scan)."""

    def __init__(self) -> None:
        self._used: dict[bytes, float] = {}
        self._expiries: list[tuple[float, bytes]] = []

    def _sweep(self, now: float) -> int:
        freed = 0
        while self._expiries and self._expiries[0][0] < now:
            expires_at, jti = heapq.heappop(self._expiries)
            # A stale heap entry (the id was used again later) leaves the newer record alone.
            if self._used.get(jti) == expires_at:
                del self._used[jti]
                freed += 1
        if freed:
            self._used = _compacted(self._used, freed)
        return freed

    async def use(self, jti: bytes, expires_at: float) -> bool:
        now = time.time()
        self._sweep(now)
        recorded = self._used.get(jti)
        if recorded is not None and recorded >= now:
            return False
        self._used[jti] = expires_at
        heapq.heappush(self._expiries, (expires_at, jti))
        return True

    async def seen(self, jti: bytes) -> bool:
        recorded = self._used.get(jti)
        return recorded is not None and recorded >= time.time()

    async def release(self, jti: bytes) -> bool:
        # Its heap entry stays and is skipped when it comes up (it no longer matches).
        return self._used.pop(jti, None) is not None

    async def purge(self, now: float) -> int:
        return self._sweep(now)


def memory_stores() -> Stores:
    return Stores(
        users=MemoryUserStore(),
        sessions=MemorySessionRegistry(),
        replay=MemoryReplayCache(),
        outbox=MemoryOutbox(),
        activity=MemoryActivityLog(),
    )
