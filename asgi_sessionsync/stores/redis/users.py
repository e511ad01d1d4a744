"""Users in Redis: a hash per user, ``{prefix}:user:<email>``.

In pages and in bulk (``users export|import``): ``{prefix}:users`` is a sorted set of
every user's email (all scores 0: ordered by email), kept by ``create``, ``apply`` and
imports; a store from before it existed is indexed once, by a ``SCAN``, at the first
listing. An import batch is one Lua script call (atomic, one round trip). A user hash
that is gone is dropped from the index when a listing meets it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast

from redis.exceptions import WatchError

from asgi_sessionsync.stores.base import (
    ImportCounts,
    User,
    normalize_email,
)
from asgi_sessionsync.stores.redis.connection import RedisConnection, _f, _pairs
from asgi_sessionsync.stores.redis.user_pages import list_users
from asgi_sessionsync.stores.redis.user_pages import user_of as _user
from asgi_sessionsync.stores.versions import Applied, Tombstone, UserChange, merge

_USER_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('ZADD', T .. ':users', 0, ARGV[4])
end
return redis.call('HGETALL', KEYS[1])
"""

# Each user: [email, fields (flat, without versions), versions]. An overwrite keeps the
# user's sync versions; fields a user lacks are removed first.
_USERS_IMPORT = """
local replace, created, updated, skipped = ARGV[3] == '1', 0, 0, 0
for _, u in ipairs(cjson.decode(ARGV[4])) do
  local k = T .. ':user:' .. u[1]
  if redis.call('EXISTS', k) == 0 then
    redis.call('HSET', k, 'versions', u[3], unpack(u[2]))
    redis.call('ZADD', T .. ':users', 0, u[1])
    created = created + 1
  elseif replace then
    redis.call('HDEL', k, 'password_hash', 'provisioned_by', 'meta')
    redis.call('HSET', k, unpack(u[2]))
    updated = updated + 1
  else
    skipped = skipped + 1
  end
end
return {created, updated, skipped}
"""


def _fields(user: User) -> dict[str, str]:
    fields = {
        "email": normalize_email(user.email),
        "role": user.role,
        "name": user.name,
        "created_at": _f(user.created_at or time.time()),
        "password_hash": user.password_hash,
        "provisioned_by": user.provisioned_by,
        "meta": json.dumps(user.meta, sort_keys=True),
        "versions": json.dumps({group: list(v) for group, v in user.versions.items()}, sort_keys=True),
    }
    return {k: v for k, v in fields.items() if v is not None}


class RedisUserStore:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def get(self, email: str) -> User | None:
        async with self.conn.errors():
            h = await self.conn.hgetall(self.conn.key("user", normalize_email(email)))
        return _user(h) if h else None

    async def create(self, user: User) -> User:
        email = normalize_email(user.email)
        flat = [x for k, v in _fields(user).items() for x in (k, v)]
        async with self.conn.errors():
            stored = await self.conn.run("user_create", _USER_CREATE, [self.conn.key("user", email)], flat)
        return _user(_pairs(stored))

    async def apply(self, change: UserChange) -> Applied:
        email = normalize_email(change.email)
        user_key, tomb_key = self.conn.key("user", email), self.conn.key("tomb", email)
        async with self.conn.errors():
            while True:
                # Check-and-set: WATCH both keys, read, merge, write in MULTI/EXEC; a write by
                # anyone else between the read and EXEC fails the EXEC, and it runs again.
                pipeline: Any = self.conn.client.pipeline(transaction=True)  # redis-py's pipeline is half typed
                async with pipeline as pipe:
                    try:
                        await pipe.watch(user_key, tomb_key)
                        h = cast(dict[str, str], await pipe.hgetall(user_key))
                        t = cast(dict[str, str], await pipe.hgetall(tomb_key))
                        result = merge(_user(h) if h else None, _tombstone(email, t) if t else None, change)
                        if not result.changed:
                            await pipe.unwatch()
                            return result
                        pipe.multi()
                        pipe.delete(user_key)
                        if result.user is not None:
                            pipe.hset(user_key, mapping=_fields(result.user))
                            pipe.zadd(self.conn.key("users"), {email: 0})  # the index by email
                        else:
                            pipe.zrem(self.conn.key("users"), email)
                        pipe.delete(tomb_key)
                        tombs = self.conn.key("tombs")
                        if result.tombstone is None:
                            pipe.zrem(tombs, email)
                        else:
                            stone = result.tombstone
                            pipe.hset(
                                tomb_key,
                                mapping={
                                    "clock": str(stone.version[0]),
                                    "origin": stone.version[1],
                                    "deleted_at": _f(stone.deleted_at),
                                    "final": "1" if stone.final else "0",
                                },
                            )
                            if stone.final:  # never purged: out of the purge index
                                pipe.zrem(tombs, email)
                            else:
                                pipe.zadd(tombs, {email: stone.deleted_at})
                        await pipe.execute()
                        return result
                    except WatchError:
                        continue

    async def tombstone(self, email: str) -> Tombstone | None:
        email = normalize_email(email)
        async with self.conn.errors():
            t = await self.conn.hgetall(self.conn.key("tomb", email))
        return _tombstone(email, t) if t else None

    async def purge_tombstones(self, deleted_before: float) -> int:
        async with self.conn.errors():
            purged = await self.conn.run(
                "tombstone_purge", _TOMBSTONE_PURGE, [self.conn.key("tombs")], [_f(deleted_before)]
            )
        return int(purged)

    # -- in pages and in bulk (users export|import) ------------------------------------------

    async def list_users(
        self,
        *,
        role: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        after: str | None = None,
        prefix: str | None = None,
    ) -> list[User]:
        return await list_users(self.conn, role=role, limit=limit, offset=offset, after=after, prefix=prefix)

    async def import_users(self, users: Sequence[User], *, replace: bool = False) -> ImportCounts:
        batch = {normalize_email(u.email): _fields(u) for u in users}  # the later one wins
        if not batch:
            return ImportCounts()
        rows = []
        for email, fields in batch.items():
            versions = fields.pop("versions", "{}")
            rows.append([email, [x for k, v in fields.items() for x in (k, v)], versions])
        conn = self.conn
        async with conn.errors():
            created, updated, skipped = await conn.run(
                "users_import", _USERS_IMPORT, [conn.key("users")], ["1" if replace else "0", json.dumps(rows)]
            )
        return ImportCounts(int(created), int(updated), int(skipped))


_TOMBSTONE_PURGE = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, email in ipairs(old) do
  redis.call('DEL', T .. ':tomb:' .. email)
  redis.call('ZREM', KEYS[1], email)
end
return #old
"""


def _tombstone(email: str, t: dict[str, str]) -> Tombstone:
    return Tombstone(email, (int(t["clock"]), t["origin"]), float(t["deleted_at"]), t.get("final") == "1")
