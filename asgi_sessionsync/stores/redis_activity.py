"""The activity log and the users' bulk operations in the Redis store.

**Activity.** One sorted set, ``{prefix}:activity``: each member is an entry as JSON
(starting with its id, so that entries of one time sort by id), scored by its time.
Every write trims the set to ``max_entries`` (the oldest go first) in the same
transaction, so it never grows without bound even when housekeeping never runs;
:meth:`RedisActivityLog.purge` deletes by age. Listing walks the set newest first, a
page at a time, filtering as it goes.

**Users in pages and in bulk.** ``{prefix}:users`` is a sorted set of every user's
email (all scores 0: ordered by email), kept by :meth:`RedisUserStore.create` and by
imports; a store from before it existed is indexed once, by a ``SCAN``, at the first
listing. An import batch is one Lua script call (atomic, one round trip). A user hash
that is gone (deleted) is dropped from the index when a listing meets it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from asgi_sessionsync.stores.base import (
    ActivityEntry,
    ActivityFilter,
    Direction,
    ImportCounts,
    Outcome,
    User,
    normalize_email,
)

if TYPE_CHECKING:
    from asgi_sessionsync.stores.redis import RedisConnection

DEFAULT_MAX_ENTRIES = 200_000
_PAGE = 500


def _member(e: ActivityEntry) -> str:
    return json.dumps(
        [e.id, e.at, e.site, e.direction.value, e.peer, e.kind, e.user, e.outcome.value, e.reason, e.message_id],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _entry(member: str) -> ActivityEntry:
    v = json.loads(member)
    return ActivityEntry(v[0], float(v[1]), v[2], Direction(v[3]), v[4], v[5], v[6], Outcome(v[7]), v[8], v[9])


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

    async def list(self, where: ActivityFilter | None = None, *, limit: int = 100) -> list[ActivityEntry]:
        where = where or ActivityFilter()
        top = "+inf" if where.until is None else "(" + _score(where.until)
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
            found += [e for e in map(_entry, members) if where.matches(e)]
            offset += len(members)
            if len(members) < _PAGE:
                break
        return found[:limit]

    async def purge(self, before: float) -> int:
        async with self.conn.errors():
            return int(await self.conn.client.zremrangebyscore(self.key, "-inf", "(" + _score(before)))


# -- users in pages and in bulk -------------------------------------------------------------

_USERS_IMPORT = """
local replace, created, updated, skipped = ARGV[3] == '1', 0, 0, 0
local users = cjson.decode(ARGV[4])
for _, u in ipairs(users) do
  local k = T .. ':user:' .. u[1]
  local exists = redis.call('EXISTS', k) == 1
  if exists and not replace then
    skipped = skipped + 1
  else
    if exists then redis.call('DEL', k); updated = updated + 1 else created = created + 1 end
    redis.call('HSET', k, unpack(u[2]))
    redis.call('ZADD', T .. ':users', 0, u[1])
  end
end
return {created, updated, skipped}
"""


def _fields(user: User, email: str, now: float) -> list[str]:
    fields: dict[str, str | None] = {
        "email": email,
        "role": user.role,
        "name": user.name,
        "created_at": repr(float(user.created_at or now)),
        "password_hash": user.password_hash,
        "provisioned_by": user.provisioned_by,
    }
    return [x for k, v in fields.items() if v is not None for x in (k, v)]


async def import_users(conn: RedisConnection, users: Sequence[User], *, replace: bool) -> ImportCounts:
    now = time.time()
    batch = {normalize_email(u.email): u for u in users}  # the later one wins
    if not batch:
        return ImportCounts()
    rows = [[email, _fields(u, email, now)] for email, u in batch.items()]
    async with conn.errors():
        created, updated, skipped = await conn.run(
            "users_import", _USERS_IMPORT, [conn.key("users")], ["1" if replace else "0", json.dumps(rows)]
        )
    return ImportCounts(int(created), int(updated), int(skipped))


async def _ensure_index(conn: RedisConnection) -> None:
    """Index the users of a store written before ``{prefix}:users`` existed (once)."""
    marker = conn.key("users-indexed")
    client = conn.client
    if await client.exists(marker):
        return
    prefix = conn.key("user", "")
    async for key in client.scan_iter(match=prefix.replace("[", "\\[") + "*", count=1000):
        await client.zadd(conn.key("users"), {str(key)[len(prefix) :]: 0})
    await client.set(marker, "1")


async def list_users(conn: RedisConnection, *, role: str | None, limit: int, offset: int) -> list[User]:
    from asgi_sessionsync.stores.redis import _user  # one spelling of a user hash

    async with conn.errors():
        await _ensure_index(conn)
        found: list[User] = []
        position, skip = (offset, 0) if role is None else (0, offset)
        while len(found) < limit:
            want = limit - len(found) if role is None else _PAGE
            emails = await conn.zrange(conn.key("users"), position, position + want - 1)
            if not emails:
                break
            rows = await conn.hgetall_many([conn.key("user", e) for e in emails])
            gone = [e for e, h in zip(emails, rows, strict=True) if not h]
            if gone:  # deleted users: out of the index, then read this page again
                await conn.client.zrem(conn.key("users"), *gone)
                continue
            position += len(emails)
            page = [_user(h) for h in rows if role is None or h.get("role") == role]
            if skip:
                dropped = min(skip, len(page))
                page, skip = page[dropped:], skip - dropped
            found += page
            if len(emails) < want:
                break
        return found[:limit]



__all__ = ["DEFAULT_MAX_ENTRIES", "RedisActivityLog", "import_users", "list_users"]
