"""Users in Redis: a hash per user, ``{prefix}:user:<email>``.

In pages and in bulk (``users export|import``): ``{prefix}:users`` is a sorted set of
every user's email (all scores 0: ordered by email), kept by :meth:`RedisUserStore.create`
and by imports; a store from before it existed is indexed once, by a ``SCAN``, at the
first listing. An import batch is one Lua script call (atomic, one round trip). A user
hash that is gone (deleted) is dropped from the index when a listing meets it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from asgi_sessionsync.stores.base import (
    ImportCounts,
    User,
    normalize_email,
)
from asgi_sessionsync.stores.redis.connection import RedisConnection, _f, _pairs

_USER_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('ZADD', T .. ':users', 0, ARGV[4])
end
return redis.call('HGETALL', KEYS[1])
"""

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
_PAGE = 500


def _fields(user: User, email: str, now: float) -> list[str]:
    """The hash of a user, flat (field, value, …); the email first (the scripts read it)."""
    fields: dict[str, str | None] = {
        "email": email,
        "role": user.role,
        "name": user.name,
        "created_at": _f(user.created_at or now),
        "password_hash": user.password_hash,
        "provisioned_by": user.provisioned_by,
    }
    return [x for k, v in fields.items() if v is not None for x in (k, v)]


def _user(h: dict[str, str]) -> User:
    return User(
        email=h["email"],
        role=h["role"],
        name=h["name"],
        password_hash=h.get("password_hash"),
        created_at=float(h["created_at"]),
        provisioned_by=h.get("provisioned_by"),
    )


class RedisUserStore:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def get(self, email: str) -> User | None:
        async with self.conn.errors():
            h = await self.conn.hgetall(self.conn.key("user", normalize_email(email)))
        return _user(h) if h else None

    async def create(self, user: User) -> User:
        email = normalize_email(user.email)
        flat = _fields(user, email, time.time())
        async with self.conn.errors():
            stored = await self.conn.run("user_create", _USER_CREATE, [self.conn.key("user", email)], flat)
        return _user(_pairs(stored))

    async def list_users(self, *, role: str | None = None, limit: int = 1000, offset: int = 0) -> list[User]:
        conn = self.conn
        async with conn.errors():
            await self._ensure_index()
            found: list[User] = []
            position, skip = (offset, 0) if role is None else (0, offset)
            while len(found) < limit:
                want = limit - len(found) if role is None else _PAGE
                emails = await conn.zrange(conn.key("users"), position, position + want - 1)
                if not emails:
                    break
                rows = await conn.hgetall_many([conn.key("user", e) for e in emails])
                gone = [e for e, h in zip(emails, rows, strict=True) if not h]
                if gone:  # deleted users: out of the index, then this page again
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

    async def _ensure_index(self) -> None:
        """Index the users of a store written before ``{prefix}:users`` existed (once)."""
        conn = self.conn
        marker = conn.key("users-indexed")
        if await conn.client.exists(marker):
            return
        prefix = conn.key("user", "")
        pattern = prefix + "*"  # a prefix is of A-Z a-z 0-9 _ . : - and braces: nothing a glob reads
        async for key in conn.client.scan_iter(match=pattern, count=1000):
            await conn.client.zadd(conn.key("users"), {str(key)[len(prefix) :]: 0})
        await conn.client.set(marker, "1")

    async def import_users(self, users: Sequence[User], *, replace: bool = False) -> ImportCounts:
        now = time.time()
        batch = {normalize_email(u.email): u for u in users}  # the later one wins
        if not batch:
            return ImportCounts()
        rows = [[email, _fields(u, email, now)] for email, u in batch.items()]
        conn = self.conn
        async with conn.errors():
            created, updated, skipped = await conn.run(
                "users_import", _USERS_IMPORT, [conn.key("users")], ["1" if replace else "0", json.dumps(rows)]
            )
        return ImportCounts(int(created), int(updated), int(skipped))
