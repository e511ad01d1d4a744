"""Users in Redis."""

from __future__ import annotations

import json
import time
from typing import Any, cast

from redis.exceptions import WatchError

from asgi_sessionsync.stores.base import (
    User,
    normalize_email,
)
from asgi_sessionsync.stores.redis.connection import RedisConnection, _f, _pairs
from asgi_sessionsync.stores.versions import Applied, Tombstone, UserChange, merge

_USER_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return redis.call('HGETALL', KEYS[1])
"""


def _user(h: dict[str, str]) -> User:
    return User(
        email=h["email"],
        role=h["role"],
        name=h["name"],
        password_hash=h.get("password_hash"),
        created_at=float(h["created_at"]),
        provisioned_by=h.get("provisioned_by"),
        meta=json.loads(h.get("meta", "{}")),
        versions={group: (int(v[0]), str(v[1])) for group, v in json.loads(h.get("versions", "{}")).items()},
    )


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
                                },
                            )
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


_TOMBSTONE_PURGE = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, email in ipairs(old) do
  redis.call('DEL', T .. ':tomb:' .. email)
  redis.call('ZREM', KEYS[1], email)
end
return #old
"""


def _tombstone(email: str, t: dict[str, str]) -> Tombstone:
    return Tombstone(email, (int(t["clock"]), t["origin"]), float(t["deleted_at"]))
