"""Sessions in Redis: the scripts that create and end them, and the registry."""

from __future__ import annotations

import builtins

from asgi_sessionsync.exceptions import StoreError, StoreUnavailable
from asgi_sessionsync.stores.base import (
    PAGE_BUDGET,
    SessionFilter,
    SessionKey,
    SessionPage,
    SessionRecord,
    normalize_email,
)
from asgi_sessionsync.stores.redis.cache import ActiveSessionCache
from asgi_sessionsync.stores.redis.connection import _BATCH, RedisConnection, _f
from asgi_sessionsync.stores.redis.pages import session_page
from asgi_sessionsync.stores.redis.records import _session, _session_args, analytics, idle, listing, search
from asgi_sessionsync.stores.stats import SessionStats

_SESSION_CREATE = """
local sid, user, chain, created, ended, expires = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local ref, ip, seen = ARGV[9], ARGV[10], ARGV[11]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 12))
local drop = nil
if ended ~= '' then drop = drop_at(ended) elseif expires ~= '' then drop = drop_at(expires) end
if drop then redis.call('PEXPIREAT', KEYS[1], drop) end
redis.call('ZADD', T .. ':all', created, sid)
index(T .. ':us:' .. user, sid, created, drop)
index(T .. ':ch:' .. chain, sid, created, drop)
if ref ~= '' then index(T .. ':ref:' .. ref, sid, created, drop) end
if ip ~= '' then index(T .. ':ip:' .. ip, sid, created, drop) end
if ended ~= '' then redis.call('ZADD', T .. ':ended', ended, sid)
else
  redis.call('ZADD', T .. ':seen', seen, sid)
  if expires ~= '' then redis.call('ZADD', T .. ':exp', expires, sid) end
end
sweep(16)
return 1
"""

_SESSION_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[3])
  if redis.call('HEXISTS', KEYS[1], 'ended_at') == 0 then redis.call('ZADD', T .. ':seen', ARGV[3], ARGV[4]) end
end
return 0
"""

_SESSION_END = """
local f = finish(ARGV[3], ARGV[4], ARGV[5])
if not f then return 0 end
refresh_if_forever(T .. ':us:' .. f[1])
refresh_if_forever(T .. ':ch:' .. f[2])
refresh_ref(f)
announce({ARGV[3]})
return 1
"""

_SESSION_END_USER = """
local when, reason = ARGV[3], ARGV[4]
local any_chain, chain = ARGV[5] == '0', ARGV[6]
local any_time, before = ARGV[7] == '0', tonumber(ARGV[8])
local ended, chains = {}, {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', skey(sid), 'chain', 'created_at', 'ended_at')
  if f[1] and not f[3] and (any_chain or f[1] == chain) and (any_time or tonumber(f[2]) <= before) then
    refresh_ref(finish(sid, when, reason))
    ended[#ended + 1] = sid
    chains[f[1]] = true
  end
end
refresh(KEYS[1])
for c in pairs(chains) do refresh(T .. ':ch:' .. c) end
announce(ended)
return ended
"""

_SESSION_END_CHAIN = """
local keep, when, reason = ARGV[3], ARGV[4], ARGV[5]
local ended, users = {}, {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= keep then
    local f = finish(sid, when, reason)
    if f then
      ended[#ended + 1] = sid
      users[f[1]] = true
      refresh_ref(f)
    end
  end
end
refresh(KEYS[1])
for u in pairs(users) do refresh_if_forever(T .. ':us:' .. u) end
announce(ended)
return ended
"""

_SESSION_EXPIRE = """
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local ended = {}
for _, sid in ipairs(sids) do
  local at = redis.call('HGET', skey(sid), 'expires_at')
  local f = at and finish(sid, at, 'expired')
  if f then
    ended[#ended + 1] = sid
    refresh_if_forever(T .. ':us:' .. f[1])
    refresh_if_forever(T .. ':ch:' .. f[2])
    refresh_ref(f)
  else  -- already ended, or dropped by Redis: no longer expiring
    redis.call('ZREM', KEYS[1], sid)
    if not at then
      redis.call('ZREM', T .. ':all', sid)
      redis.call('ZREM', T .. ':seen', sid)
    end
  end
end
announce(ended)
return {#sids, ended}
"""

_SESSION_PURGE = """
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local deleted = 0
for _, sid in ipairs(sids) do
  local f = redis.call('HMGET', skey(sid), 'user', 'chain', 'ended_at', 'app_ref', 'ip')
  if f[1] and f[3] then
    redis.call('DEL', skey(sid))
    deleted = deleted + 1
    local indexes = {T .. ':us:' .. f[1], T .. ':ch:' .. f[2]}
    if f[4] then indexes[#indexes + 1] = T .. ':ref:' .. f[4] end
    if f[5] and f[5] ~= '' then indexes[#indexes + 1] = T .. ':ip:' .. f[5] end
    for _, idx in ipairs(indexes) do
      redis.call('ZREM', idx, sid)
      refresh_if_forever(idx)
    end
  end
  redis.call('ZREM', T .. ':ended', sid)
  redis.call('ZREM', T .. ':all', sid)
  redis.call('ZREM', T .. ':exp', sid)
  redis.call('ZREM', T .. ':seen', sid)
end
if #sids < tonumber(ARGV[4]) then sweep(tonumber(ARGV[4])) end
return {#sids, deleted}
"""


class RedisSessionRegistry:
    """Sessions in Redis, with :class:`ActiveSessionCache` in front of :meth:`get`."""

    def __init__(self, conn: RedisConnection, *, cache_seconds: float = 30.0, outage_grace: float = 0.0) -> None:
        self.conn = conn
        self.cache = ActiveSessionCache(conn, max_age=cache_seconds, outage_grace=outage_grace)
        conn.closers.append(self.cache.close)

    async def create(self, record: SessionRecord) -> None:
        head, flat = _session_args(record)
        async with self.conn.errors():
            created = await self.conn.run(
                "session_create", _SESSION_CREATE, [self.conn.key("s", record.sid)], [*head, *flat]
            )
        if not created:
            raise StoreError("session registry: a session with this sid exists already")

    async def get(self, sid: str) -> SessionRecord | None:
        cache, usable = self.cache, self.cache.usable
        if usable and (hit := cache.get(sid)) is not None:
            return hit
        epoch = cache.epoch
        try:
            async with self.conn.errors():
                h = await self.conn.hgetall(self.conn.key("s", sid))
        except StoreUnavailable as error:
            return cache.known.instead_of(error, sid, self.conn.availability)
        record = _session(h) if h else None
        if usable and record is not None:
            cache.remember(record, epoch)
        return record

    async def find_by_app_ref(self, ref: str) -> SessionRecord | None:
        if not ref:
            return None
        async with self.conn.errors():
            # Newest first, ties by sid descending (ZREVRANGE's order); rows Redis has
            # dropped are skipped (later writes sweep them from the index).
            sids = await self.conn.zrange(self.conn.key("ref", ref), 0, -1, desc=True)
            found = [_session(h) for h in await self.conn.hgetall_many([self.conn.key("s", sid) for sid in sids]) if h]
        ended = [r for r in found if not r.active]
        return (ended or found)[0] if found else None

    async def touch(self, sid: str, when: float) -> None:
        async with self.conn.errors():
            await self.conn.run("session_touch", _SESSION_TOUCH, [self.conn.key("s", sid)], [_f(when), sid])
        self.cache.touched(sid, when)

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        async with self.conn.errors():
            ended = await self.conn.run("session_end", _SESSION_END, [self.conn.key("s", sid)], [sid, _f(when), reason])
        self.cache.forget([sid])
        return bool(ended)

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        args = [
            _f(when),
            reason,
            "0" if chain is None else "1",
            chain or "",
            "0" if created_before is None else "1",
            _f(created_before or 0.0),
        ]
        async with self.conn.errors():
            ended = await self.conn.run(
                "session_end_user", _SESSION_END_USER, [self.conn.key("us", normalize_email(user))], args
            )
        self.cache.forget(ended)
        return len(ended)

    async def end_chain_except(self, chain: str, keep_sid: str, *, reason: str, when: float) -> int:
        async with self.conn.errors():
            ended = await self.conn.run(
                "session_end_chain", _SESSION_END_CHAIN, [self.conn.key("ch", chain)], [keep_sid, _f(when), reason]
            )
        self.cache.forget(ended)
        return len(ended)

    async def expire(self, now: float) -> int:
        count = 0
        while True:
            async with self.conn.errors():
                seen, ended = await self.conn.run(
                    "session_expire", _SESSION_EXPIRE, [self.conn.key("exp")], [_f(now), _BATCH]
                )
            self.cache.forget(ended)
            count += len(ended)
            if seen < _BATCH:
                return count

    async def purge(self, ended_before: float) -> int:
        count = 0
        while True:
            async with self.conn.errors():
                seen, deleted = await self.conn.run(
                    "session_purge", _SESSION_PURGE, [self.conn.key("ended")], [_f(ended_before), _BATCH]
                )
            count += int(deleted)
            if seen < _BATCH:
                return count

    async def active(self, user: str) -> builtins.list[SessionRecord]:
        return await self.list(user=user)

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        return await listing(self.conn, user=user, include_ended=include_ended, limit=limit)

    async def erase_user(self, user: str) -> int:
        async with self.conn.errors():
            erased = await self.conn.run(
                "session_erase_user", _SESSION_ERASE_USER, [self.conn.key("us", normalize_email(user))], []
            )
        self.cache.forget(erased)
        return len(erased)

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        return await search(self.conn, user=user, ip=ip, since=since, active=active, limit=limit)

    async def page(
        self,
        where: SessionFilter,
        *,
        after: SessionKey | None = None,
        limit: int = 50,
        budget: int = PAGE_BUDGET,
    ) -> SessionPage:
        return await session_page(self.conn, where, after, limit, budget)

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        return await idle(self.conn, seen_before, limit, after=after)

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        return await analytics(self.conn, since, until, top=top)


_SESSION_ERASE_USER = """
local erased = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', skey(sid), 'chain', 'ip')
  redis.call('DEL', skey(sid))
  if f[1] then redis.call('ZREM', T .. ':ch:' .. f[1], sid) end
  if f[2] and f[2] ~= '' then redis.call('ZREM', T .. ':ip:' .. f[2], sid) end
  for _, idx in ipairs({T .. ':all', T .. ':ended', T .. ':exp', T .. ':seen'}) do redis.call('ZREM', idx, sid) end
  erased[#erased + 1] = sid
end
redis.call('DEL', KEYS[1])
announce(erased)
return erased
"""
