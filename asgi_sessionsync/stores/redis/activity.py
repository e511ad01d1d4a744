"""The activity log in Redis.

One sorted set, ``{prefix}:activity``: each member is an entry as JSON
(starting with its id, so that entries of one time sort by id), scored by its time.
An entry of a console action ends with its ``actor``.
Every write trims the set to ``max_entries`` (the oldest go first) in the same
transaction, so it never grows without bound even when housekeeping never runs;
:meth:`RedisActivityLog.purge` deletes by age. Listing walks the set newest first, a
page at a time, filtering as it goes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from asgi_sessionsync.stores.activity_log import DEFAULT_MAX_ENTRIES
from asgi_sessionsync.stores.base import ActivityEntry, ActivityFilter, Direction, Outcome, normalize_email
from asgi_sessionsync.stores.redis.connection import RedisConnection

_PAGE = 500


def _member(e: ActivityEntry) -> str:
    return json.dumps(
        [e.id, e.at, e.site, e.direction.value, e.peer, e.kind, e.user, e.outcome.value, e.reason, e.message_id]
        + ([e.actor] if e.actor else []),
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _entry(member: str) -> ActivityEntry:
    v = json.loads(member)
    actor = v[10] if len(v) > 10 else ""  # entries of a message have none (and older ones)
    return ActivityEntry(v[0], float(v[1]), v[2], Direction(v[3]), v[4], v[5], v[6], Outcome(v[7]), v[8], v[9], actor)


def _score(value: float) -> str:
    return repr(float(value))


class RedisActivityLog:
    def __init__(self, conn: RedisConnection, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.conn = conn
        self.max_entries = max_entries

    @property
    def key(self) -> str:
        return self.conn.key("activity")

    async def record(self, entries: Sequence[ActivityEntry]) -> None:
        if not entries:
            return
        async with self.conn.errors():
            pipe = self.conn.client.pipeline(transaction=True)
            pipe.zadd(self.key, {_member(e): e.at for e in entries}, nx=True)
            pipe.zremrangebyrank(self.key, 0, -(self.max_entries + 1))
            await pipe.execute()

    async def list(
        self, where: ActivityFilter | None = None, *, limit: int = 100, before: tuple[float, str] | None = None
    ) -> list[ActivityEntry]:
        where = where or ActivityFilter()
        top = "+inf" if where.until is None else "(" + _score(where.until)
        if before is not None and (where.until is None or before[0] < where.until):
            top = _score(before[0])  # from the cursor's time, inclusive: its ties are sorted out below
        bottom = "-inf" if where.since is None else _score(where.since)
        found: list[ActivityEntry] = []
        offset = 0
        while len(found) < limit:
            async with self.conn.errors():
                members = cast(
                    list[str],
                    await self.conn.client.zrange(
                        self.key, top, bottom, desc=True, byscore=True, offset=offset, num=_PAGE
                    ),
                )
            found += [e for e in map(_entry, members) if where.matches(e) and (before is None or (e.at, e.id) < before)]
            offset += len(members)
            if len(members) < _PAGE:
                break
        return found[:limit]

    async def erase_user(self, user: str) -> int:
        """A walk of the whole set, a page at a time, removing the user's members."""
        email = normalize_email(user)
        erased = 0
        offset = 0
        while True:
            async with self.conn.errors():
                members = cast(list[str], await self.conn.client.zrange(self.key, offset, offset + _PAGE - 1))
            if not members:
                return erased
            theirs = [m for m in members if _entry(m).user == email]
            if theirs:
                async with self.conn.errors():
                    erased += int(await self.conn.client.zrem(self.key, *theirs))
            offset += len(members) - len(theirs)

    async def purge(self, before: float, *, keep: int | None = None) -> int:
        async with self.conn.errors():
            deleted = int(await self.conn.client.zremrangebyscore(self.key, "-inf", "(" + _score(before)))
            if keep is not None:
                deleted += int(await self.conn.client.zremrangebyrank(self.key, 0, -(keep + 1)))
            return deleted


__all__ = ["DEFAULT_MAX_ENTRIES", "RedisActivityLog"]
