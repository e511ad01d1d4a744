"""The Redis connection shared by the four stores: the client, the key names, and the Lua
helpers every script starts with."""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
)

from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.stores.availability import Availability

EXAMPLE = "SESSIONSYNC_STORE=redis://localhost:6379/0?prefix=shop"
DEFAULT_PREFIX = "sessionsync"
DEFAULT_RETENTION = 30 * 86400.0
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
DEFAULT_OUTAGE_GRACE = 60.0  # seconds a session read from Redis may be answered from the cache in an outage
_OUR_OPTIONS = {"prefix", "retention", "outage_grace"}
_ENDED_CHANNEL = "ended-sessions"  # pub/sub: sids of sessions just ended, space-separated
_BATCH = 500  # rows one script call works through, so no call holds the server long


def _f(value: float) -> str:
    # repr() of a float reads back as the same float, in Python and in Lua alike.
    return repr(float(value))


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _opt(value: str | None) -> float | None:
    return None if value is None else float(value)


# Replies that mean the server cannot serve now (loading, out of memory, cannot persist, a
# replica, a cluster without a master), by their first word.
_REPLY_PROBLEMS = {
    "LOADING": "the server is loading its data",
    "OOM": "the server is out of memory (maxmemory)",
    "MISCONF": "the server cannot save its data (MISCONF)",
    "READONLY": "the server is a read-only replica",
    "MASTERDOWN": "the server has lost its master",
    "CLUSTERDOWN": "the cluster is down",
    "TRYAGAIN": "the cluster is moving this data",
}


def maybe_done(error: BaseException) -> bool:
    """Whether a call that failed so may still have been carried out by the server: it may
    have been sent, unless the connection was never made or the server refused it."""
    if isinstance(error, BusyLoadingError | AuthenticationError | ResponseError):
        return False  # the server answered: it did not run it
    return "connecting to" not in str(error)  # redis-py: "Error 111 connecting to HOST:PORT."


def unavailable_problem(error: BaseException) -> str | None:
    """What makes the server unavailable, in a few words; None for other errors (a bug,
    a script error, data of the wrong type)."""
    if isinstance(error, BusyLoadingError):
        return _REPLY_PROBLEMS["LOADING"]
    if isinstance(error, AuthenticationError):
        return "the server refused this client's credentials"
    if isinstance(error, TimeoutError | builtins.TimeoutError):
        return "the server does not answer in time"
    if isinstance(error, ConnectionError | OSError):
        return "cannot reach the server"
    if isinstance(error, OutOfMemoryError):
        return _REPLY_PROBLEMS["OOM"]
    if isinstance(error, ReadOnlyError):
        return _REPLY_PROBLEMS["READONLY"]
    if isinstance(error, ResponseError):
        return _REPLY_PROBLEMS.get(str(error).split(" ", 1)[0].upper())
    return None


class RedisConnection:
    """The client, the key names and the scripts shared by the four stores."""

    def __init__(self, client: Redis, *, prefix: str, retention: float, shown_as: str) -> None:
        # get_encoder and PubSub.aclose are untyped in some redis-py versions.
        if not cast(Any, client).get_encoder().decode_responses:
            raise ConfigError("SESSIONSYNC_STORE", "the Redis client must be made with decode_responses=True")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigError("SESSIONSYNC_STORE", f"prefix {prefix!r} must be 1-100 of A-Z a-z 0-9 _ . : -")
        self.client = client
        self.tag = "{" + prefix + "}"
        self.retention_ms = str(int(retention * 1000))
        self.channel = f"{self.tag}:{_ENDED_CHANNEL}"
        self.shown_as = shown_as
        # Whether the server answers; while it does not, calls fail at once (one probe a second).
        self.availability = Availability(f"Redis store {shown_as}", fail_fast=True)
        self.scripts: dict[str, AsyncScript] = {}
        self.closers: list[Callable[[], Awaitable[None]]] = []
        # Whether this prefix's data is known to carry the governance indexes (the
        # last-seen and per-address ones): checked, and built once, by records.ensure_indexes.
        self.indexed = False

    async def hgetall(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self.client.hgetall(key))

    async def hgetall_many(self, keys: list[str]) -> list[dict[str, str]]:
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return cast(list[dict[str, str]], await pipe.execute())

    async def zrange(self, key: str, start: int, stop: int, *, desc: bool = False) -> list[str]:
        return cast(list[str], await self.client.zrange(key, start, stop, desc=desc))

    def key(self, *parts: str) -> str:
        return ":".join((self.tag, *parts))

    def script(self, name: str, body: str) -> AsyncScript:
        script = self.scripts.get(name)
        if script is None:
            script = self.scripts[name] = self.client.register_script(_LUA_HELPERS + body)
        return script

    async def run(self, name: str, body: str, keys: list[str], args: list[Any]) -> Any:
        return await self.script(name, body)(keys=keys, args=[self.tag, self.retention_ms, *args])

    @contextlib.asynccontextmanager
    async def errors(self) -> AsyncIterator[None]:
        """Around every call: redis-py's errors as the package's (a server that cannot
        answer is :class:`~asgi_sessionsync.exceptions.StoreUnavailable`), and the
        server's availability kept (while it is down, a call fails at once unless it is
        the second's probe)."""
        self.availability.check()
        try:
            yield
        except (RedisError, OSError) as error:
            detail = f"{type(error).__name__}: {error}"
            problem = unavailable_problem(error)
            if problem is not None:
                raise self.availability.failed(problem, detail, maybe_done=maybe_done(error)) from None
            raise StoreError(f"Redis store {self.shown_as}: {detail}") from None
        self.availability.ok()

    async def close(self) -> None:
        for closer in self.closers:
            await closer()
        await self.client.aclose()


# Shared by every script. ARGV[1] is the key tag, ARGV[2] the retention in ms.
_LUA_HELPERS = """
local T = ARGV[1]
local RET = tonumber(ARGV[2])
local function skey(sid) return T .. ':s:' .. sid end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- when Redis drops a row ended or expiring at time `at` (seconds, a string)
local function drop_at(at) return math.max(math.floor(tonumber(at) * 1000) + RET, 1) end
-- an index lives as long as its longest-lived row, and no longer
local function refresh(idx)
  local latest, forever = 0, false
  for _, sid in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    local t = redis.call('PEXPIRETIME', skey(sid))
    if t == -2 then redis.call('ZREM', idx, sid)
    elseif t == -1 then forever = true
    elseif t > latest then latest = t end
  end
  if forever then redis.call('PERSIST', idx)
  elseif latest > 0 then redis.call('PEXPIREAT', idx, latest) end
end
local function refresh_if_forever(idx)
  if redis.call('PTTL', idx) == -1 then refresh(idx) end
end
-- add a row that drops at `drop` (nil: never) to an index
local function index(idx, sid, score, drop)
  local existed = redis.call('EXISTS', idx)
  redis.call('ZADD', idx, score, sid)
  if not drop then redis.call('PERSIST', idx)
  elseif existed == 0 then redis.call('PEXPIREAT', idx, drop)
  else
    local current = redis.call('PEXPIRETIME', idx)
    if current ~= -1 and current < drop then redis.call('PEXPIREAT', idx, drop) end
  end
end
-- forget up to `limit` sessions that retention has dropped (or drops now) from the
-- global indexes
local function sweep(limit)
  local cutoff = (now_ms() - RET) / 1000
  for _, z in ipairs({T .. ':ended', T .. ':exp'}) do
    for _, sid in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. cutoff, 'LIMIT', 0, limit)) do
      local f = redis.call('HMGET', skey(sid), 'user', 'chain', 'app_ref', 'ip')
      if f[1] then
        redis.call('DEL', skey(sid))
        redis.call('ZREM', T .. ':us:' .. f[1], sid)
        redis.call('ZREM', T .. ':ch:' .. f[2], sid)
        if f[3] then redis.call('ZREM', T .. ':ref:' .. f[3], sid) end
        if f[4] and f[4] ~= '' then redis.call('ZREM', T .. ':ip:' .. f[4], sid) end
      end
      redis.call('ZREM', T .. ':seen', sid)
      redis.call('ZREM', T .. ':all', sid)
      redis.call('ZREM', T .. ':ended', sid)
      redis.call('ZREM', T .. ':exp', sid)
    end
  end
end
-- end one active session; its user, chain, (nil), app_ref and ip, or nil when it was not active
local function finish(sid, when, reason)
  local k = skey(sid)
  local f = redis.call('HMGET', k, 'user', 'chain', 'ended_at', 'app_ref', 'ip')
  if not f[1] or f[3] then return nil end
  redis.call('HSET', k, 'ended_at', when, 'end_reason', reason)
  redis.call('PEXPIREAT', k, drop_at(when))
  redis.call('ZREM', T .. ':exp', sid)
  redis.call('ZREM', T .. ':seen', sid)
  redis.call('ZADD', T .. ':ended', when, sid)
  return f
end
-- the app login and address indexes of a session just ended (f from finish)
local function refresh_ref(f)
  if f[4] then refresh_if_forever(T .. ':ref:' .. f[4]) end
  if f[5] and f[5] ~= '' then refresh_if_forever(T .. ':ip:' .. f[5]) end
end
local function announce(sids)
  if #sids > 0 then redis.call('PUBLISH', T .. ':@CHANNEL@', table.concat(sids, ' ')) end
end
-- an outbox queue (one peer, one user): its pending messages by the order they were queued
local function queue(peer, subject) return T .. ':q:' .. peer .. ' ' .. subject end
-- whether a pending message may be claimed: the first of its queue (or queued before
-- queues existed, so in none)
local function first_of_queue(id, peer, subject)
  if not subject then return true end
  local head = redis.call('ZRANGE', queue(peer, subject), 0, 0)[1]
  return head == nil or head == id
end
-- a finished outbox message: out of its queue (the next one becomes due), indexed by
-- finish time, dropped after retention
local function finished(id, peer, at)
  local k = T .. ':m:' .. id
  redis.call('ZREM', T .. ':due', id)
  redis.call('ZREM', T .. ':pending', id)
  redis.call('SREM', T .. ':pq:' .. peer, id)
  local subject = redis.call('HGET', k, 'subject')
  if subject then
    local q = queue(peer, subject)
    redis.call('ZREM', q, id)
    local head = redis.call('ZRANGE', q, 0, 0)[1]
    if head then redis.call('ZADD', T .. ':due', redis.call('HGET', T .. ':m:' .. head, 'next_attempt_at'), head) end
  end
  redis.call('ZADD', T .. ':fin', at, id)
  redis.call('PEXPIREAT', k, drop_at(at))
  -- forget a few messages that retention dropped
  local cutoff = (now_ms() - RET) / 1000
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', T .. ':fin', '-inf', '(' .. cutoff, 'LIMIT', 0, 8)) do
    redis.call('DEL', T .. ':m:' .. old)
    redis.call('ZREM', T .. ':fin', old)
  end
end
""".replace("@CHANNEL@", _ENDED_CHANNEL)
