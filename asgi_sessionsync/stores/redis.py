"""Redis stores: for sites that run on several machines. ``pip install asgi-sessionsync[redis]``.

Selected by ``SESSIONSYNC_STORE=redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=NAME]``
(``rediss://`` for TLS). Needs Redis 7.0 or newer and an asyncio event loop (redis-py's
asyncio client). Query options: ``prefix`` (default ``sessionsync``) names this site's
keys, so that several sites can share one server, never one prefix; ``retention``
(seconds, default 30 days) is how long ended sessions and finished messages are kept;
any connection option redis-py's ``from_url`` knows (``socket_timeout``, …) passes on.

**Atomicity.** Everything that must not race is one server-side Lua script: creating a
session or a user (only if new), ending sessions (one, a user's, a chain's, the
expired ones: each check-and-end is one step, so none escapes a concurrent end),
claiming outbox messages (the lease), and the outbox's status changes. A replay id is
one ``SET NX PXAT``.

**Expiry.** Nothing grows without bound, purge or no purge: a session row lives until
``expires_at + retention`` (active, with a lifetime) or ``ended_at + retention``
(ended) and is then dropped by Redis; finished messages likewise from ``finished_at``;
replay ids at their own expiry. Index entries of dropped rows are swept a few at a
time by later writes, and wholesale by the ``purge`` methods.

**Revocation without a round trip per request.** ``sessions.get`` is answered from a
small per-process cache of *active* records. Every script that ends sessions publishes
their sids on the channel ``{prefix}:ended-sessions`` in the same atomic step; each process
listens and drops them from its cache, so an end is seen everywhere within a pub/sub
delivery. The cache is only used while the subscription is confirmed: it is emptied
whenever the subscription is lost or made again (messages may have been missed), a
connection that answers no PING for 10 s counts as lost, and no entry is older than
``cache_seconds`` (default 30; 0 turns the cache off).

**Keys, Sentinel and Cluster.** Every key starts with the hash tag ``{prefix}``:
``{prefix}:s:<sid>`` (a session hash), ``{prefix}:us:<email>``, ``{prefix}:ch:<chain>``
and ``{prefix}:ref:<app_ref>`` (a user's, a chain's and an app login's sessions),
``{prefix}:all``/``:exp``/``:ended`` (sessions by creation, lifetime end and end),
``{prefix}:user:<email>``, ``{prefix}:j:<hex id>``, ``{prefix}:m:<id>``, ``{prefix}:due``,
``{prefix}:pq:<peer>``, ``{prefix}:fin``.

Note: one tag per prefix puts a whole site's data in one hash slot, so one user's
data (and everything else of the site) shares a slot and every script is valid on
Redis Cluster, where a script may only touch keys of one slot. The price is that a
site's data is not spread over the cluster's shards; sites spread instead, one prefix
each. A site's sessions are small (hundreds of bytes each) and one Redis node serves
well over 100 000 operations a second, so one slot per site is the trade taken; a
shard per user would make ``list()``, ``expire()`` and ``end_chain_except()`` scatter.
For Sentinel or Cluster, make the client yourself and pass it:
``redis_stores(client=Sentinel([...]).master_for("mymaster", decode_responses=True))``
or a ``redis.asyncio.RedisCluster`` (``decode_responses=True`` in every case).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.stores.base import (
    DROPPED_BY_OPERATOR,
    MessageStatus,
    OutboxMessage,
    SessionRecord,
    Stores,
    User,
    finish_time,
    normalize_email,
)
from asgi_sessionsync.stores.stats import SessionStats, StatsBuilder

logger = logging.getLogger("asgi_sessionsync.stores.redis")

T = TypeVar("T")
EXAMPLE = "SESSIONSYNC_STORE=redis://localhost:6379/0?prefix=shop"
DEFAULT_PREFIX = "sessionsync"
DEFAULT_RETENTION = 30 * 86400.0
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_OUR_OPTIONS = {"prefix", "retention"}
_ENDED_CHANNEL = "ended-sessions"  # pub/sub: sids of sessions just ended, space-separated
_BATCH = 500  # rows one script call works through, so no call holds the server long


# -- URLs ---------------------------------------------------------------------------------


def _split(url: str, variable: str) -> tuple[str, str, float]:
    """(URL for redis-py without our options, prefix, retention) or ConfigError."""
    from asgi_sessionsync.stores.registry import redact

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigError(variable, f"{redact(url)!r} is not a valid Redis URL ({error})", EXAMPLE) from None
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(variable, "a Redis store location starts with redis:// or rediss://", EXAMPLE)
    if not parts.hostname:
        raise ConfigError(variable, f"{redact(url)!r} names no host", EXAMPLE)
    if port == 0:
        raise ConfigError(variable, f"{redact(url)!r}: port 0 is not a port", EXAMPLE)
    if parts.path not in ("", "/") and not re.fullmatch(r"/\d+", parts.path):
        raise ConfigError(variable, f"{redact(url)!r}: the path is the database number, like /0", EXAMPLE)
    if parts.fragment:
        raise ConfigError(variable, f"{redact(url)!r}: a Redis URL has no #fragment", EXAMPLE)
    prefix, retention, passed = DEFAULT_PREFIX, DEFAULT_RETENTION, []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            if not _PREFIX_RE.fullmatch(value):
                raise ConfigError(
                    variable, f"prefix {value!r} must be 1-100 of A-Z a-z 0-9 _ . : - (no braces)", EXAMPLE
                )
            prefix = value
        elif name == "retention":
            try:
                retention = float(value)
            except ValueError:
                retention = -1.0
            if not (math.isfinite(retention) and retention > 0):
                raise ConfigError(variable, f"retention {value!r} must be a positive number of seconds", EXAMPLE)
        elif name in URL_QUERY_ARGUMENT_PARSERS:
            passed.append((name, value))
        else:
            known = ", ".join(sorted(_OUR_OPTIONS | set(URL_QUERY_ARGUMENT_PARSERS)))
            raise ConfigError(variable, f"unknown Redis URL option {name!r} (known: {known})", EXAMPLE)
    return urlunsplit(parts._replace(query=urlencode(passed))), prefix, retention


def check_redis_url(url: str, variable: str = "SESSIONSYNC_STORE") -> None:
    """Raise :class:`ConfigError` unless ``url`` is a usable Redis store URL. Connects to nothing."""
    _split(url, variable)


def open_redis_url(url: str, variable: str = "SESSIONSYNC_STORE") -> Stores:
    client_url, prefix, retention = _split(url, variable)
    return redis_stores(client_url, prefix=prefix, retention=retention)


# -- the shared connection ----------------------------------------------------------------


def _f(value: float) -> str:
    # repr() of a float reads back as the same float, in Python and in Lua alike.
    return repr(float(value))


def _opt(value: str | None) -> float | None:
    return None if value is None else float(value)


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
        self.scripts: dict[str, AsyncScript] = {}
        self.closers: list[Callable[[], Awaitable[None]]] = []

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
        try:
            yield
        except (RedisError, OSError) as error:
            raise StoreError(f"Redis store {self.shown_as}: {type(error).__name__}: {error}") from None

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
      local f = redis.call('HMGET', skey(sid), 'user', 'chain', 'app_ref')
      if f[1] then
        redis.call('DEL', skey(sid))
        redis.call('ZREM', T .. ':us:' .. f[1], sid)
        redis.call('ZREM', T .. ':ch:' .. f[2], sid)
        if f[3] then redis.call('ZREM', T .. ':ref:' .. f[3], sid) end
      end
      redis.call('ZREM', T .. ':all', sid)
      redis.call('ZREM', T .. ':ended', sid)
      redis.call('ZREM', T .. ':exp', sid)
    end
  end
end
-- end one active session; its user, chain, (nil) and app_ref, or nil when it was not active
local function finish(sid, when, reason)
  local k = skey(sid)
  local f = redis.call('HMGET', k, 'user', 'chain', 'ended_at', 'app_ref')
  if not f[1] or f[3] then return nil end
  redis.call('HSET', k, 'ended_at', when, 'end_reason', reason)
  redis.call('PEXPIREAT', k, drop_at(when))
  redis.call('ZREM', T .. ':exp', sid)
  redis.call('ZADD', T .. ':ended', when, sid)
  return f
end
-- the app login index of a session just ended (f from finish), if it has one
local function refresh_ref(f)
  if f[4] then refresh_if_forever(T .. ':ref:' .. f[4]) end
end
local function announce(sids)
  if #sids > 0 then redis.call('PUBLISH', T .. ':@CHANNEL@', table.concat(sids, ' ')) end
end
-- a finished outbox message: indexed by finish time, dropped after retention
local function finished(id, peer, at)
  local k = T .. ':m:' .. id
  redis.call('ZREM', T .. ':due', id)
  redis.call('SREM', T .. ':pq:' .. peer, id)
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


# -- users --------------------------------------------------------------------------------

_USER_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return redis.call('HGETALL', KEYS[1])
"""


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


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
        fields = {
            "email": email,
            "role": user.role,
            "name": user.name,
            "created_at": _f(user.created_at or time.time()),
            "password_hash": user.password_hash,
            "provisioned_by": user.provisioned_by,
        }
        flat = [x for k, v in fields.items() if v is not None for x in (k, v)]
        async with self.conn.errors():
            stored = await self.conn.run("user_create", _USER_CREATE, [self.conn.key("user", email)], flat)
        return _user(_pairs(stored))


# -- sessions -----------------------------------------------------------------------------

_SESSION_CREATE = """
local sid, user, chain, created, ended, expires = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local ref = ARGV[9]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
local drop = nil
if ended ~= '' then drop = drop_at(ended) elseif expires ~= '' then drop = drop_at(expires) end
if drop then redis.call('PEXPIREAT', KEYS[1], drop) end
redis.call('ZADD', T .. ':all', created, sid)
index(T .. ':us:' .. user, sid, created, drop)
index(T .. ':ch:' .. chain, sid, created, drop)
if ref ~= '' then index(T .. ':ref:' .. ref, sid, created, drop) end
if ended ~= '' then redis.call('ZADD', T .. ':ended', ended, sid)
elseif expires ~= '' then redis.call('ZADD', T .. ':exp', expires, sid) end
sweep(16)
return 1
"""

_SESSION_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[3]) end
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
    if not at then redis.call('ZREM', T .. ':all', sid) end
  end
end
announce(ended)
return {#sids, ended}
"""

_SESSION_PURGE = """
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local deleted = 0
for _, sid in ipairs(sids) do
  local f = redis.call('HMGET', skey(sid), 'user', 'chain', 'ended_at', 'app_ref')
  if f[1] and f[3] then
    redis.call('DEL', skey(sid))
    deleted = deleted + 1
    local indexes = {T .. ':us:' .. f[1], T .. ':ch:' .. f[2]}
    if f[4] then indexes[3] = T .. ':ref:' .. f[4] end
    for _, idx in ipairs(indexes) do
      redis.call('ZREM', idx, sid)
      refresh_if_forever(idx)
    end
  end
  redis.call('ZREM', T .. ':ended', sid)
  redis.call('ZREM', T .. ':all', sid)
  redis.call('ZREM', T .. ':exp', sid)
end
if #sids < tonumber(ARGV[4]) then sweep(tonumber(ARGV[4])) end
return {#sids, deleted}
"""

_SESSION_FIELDS = ("sid", "user", "chain", "site", "ip", "user_agent", "via", "end_reason")


def _session(h: dict[str, str]) -> SessionRecord:
    return SessionRecord(
        sid=h["sid"],
        user=h["user"],
        chain=h["chain"],
        site=h["site"],
        ip=h["ip"],
        user_agent=h["user_agent"],
        created_at=float(h["created_at"]),
        last_seen_at=float(h["last_seen_at"]),
        via=h["via"],
        ended_at=_opt(h.get("ended_at")),
        end_reason=h.get("end_reason"),
        expires_at=_opt(h.get("expires_at")),
        app_ref=h.get("app_ref"),
        country=h.get("country", ""),
        device=h.get("device", ""),
    )


class ActiveSessionCache:
    """Active session records of this process, each dropped as soon as the channel
    ``{prefix}:ended-sessions`` says it ended; used only while that subscription is confirmed.
    See the module docstring."""

    SIZE = 10_000
    PING_EVERY = 5.0  # seconds between PINGs on the subscription
    SILENCE_LIMIT = 10.0  # seconds without any answer after which the subscription is lost
    RETRY_AFTER = 1.0

    def __init__(self, conn: RedisConnection, *, max_age: float) -> None:
        self.conn = conn
        self.max_age = max_age
        self.epoch = 0  # bumped by every invalidation and (re)subscription
        self._records: dict[str, tuple[float, SessionRecord]] = {}
        self._listening = False  # the subscription is confirmed: the cache may answer
        self._listener: asyncio.Task[None] | None = None
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def usable(self) -> bool:
        """Listening now (the listener is started on first use)."""
        if self.max_age <= 0 or self._stopping:
            return False
        loop = asyncio.get_running_loop()
        if self._listener is None or self._listener_loop is not loop or self._listener.done():
            # First use, or a listener of another (finished) event loop: start afresh.
            self._forget_all()
            self._listener_loop = loop
            self._listener = loop.create_task(self._listen(), name="sessionsync-redis-invalidations")
        return self._listening

    def get(self, sid: str) -> SessionRecord | None:
        hit = self._records.get(sid)
        if hit is None or time.monotonic() - hit[0] >= self.max_age:
            return None
        return hit[1]

    def remember(self, record: SessionRecord, epoch: int) -> None:
        """Keep ``record`` if it is active and was read entirely after the subscription
        was confirmed with no invalidation heard meanwhile (``epoch`` taken before the
        read is still current): that invalidation might have been about this sid."""
        if not (record.active and self._listening and epoch == self.epoch):
            return
        if len(self._records) >= self.SIZE:
            del self._records[next(iter(self._records))]
        self._records[record.sid] = (time.monotonic(), record)

    def touched(self, sid: str, when: float) -> None:
        hit = self._records.get(sid)
        if hit is not None:
            self._records[sid] = (hit[0], dataclasses.replace(hit[1], last_seen_at=when))

    def forget(self, sids: list[str]) -> None:
        self.epoch += 1
        for sid in sids:
            self._records.pop(sid, None)

    def _forget_all(self) -> None:
        self._listening = False
        self.epoch += 1
        self._records.clear()

    async def _listen(self) -> None:
        while not self._stopping:
            pubsub: PubSub = self.conn.client.pubsub()
            try:
                await pubsub.subscribe(self.conn.channel)
                heard = pinged = time.monotonic()
                while not self._stopping:
                    message = await pubsub.get_message(timeout=self.PING_EVERY)
                    now = time.monotonic()
                    if message is not None:
                        heard = now
                        kind = message["type"]
                        if kind == "message":
                            self.forget(str(message["data"]).split())
                        elif kind == "subscribe":
                            # (Re)subscribed: what was published in between is lost.
                            self._forget_all()
                            self._listening = True
                        elif kind == "unsubscribe":
                            self._forget_all()
                    if now - heard > self.SILENCE_LIMIT:
                        raise ConnectionError("no answer to PING on the invalidation channel")
                    if now - pinged >= self.PING_EVERY:
                        await pubsub.ping()
                        pinged = now
            except asyncio.CancelledError:
                self._forget_all()
                raise
            except (RedisError, OSError) as error:
                self._forget_all()
                if self._stopping:  # redis-py may turn a cancellation into a connection error
                    return
                logger.warning(
                    "Redis store %s: session invalidations lost (%s: %s); reading every session from Redis"
                    " until they are back",
                    self.conn.shown_as,
                    type(error).__name__,
                    error,
                )
                await asyncio.sleep(self.RETRY_AFTER)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(cast(Any, pubsub).aclose())

    async def close(self) -> None:
        self._stopping = True
        task, self._listener = self._listener, None
        self._forget_all()
        if task is None or self._listener_loop is not asyncio.get_running_loop():
            return
        # Cancel until it ends: redis-py can swallow a cancellation that lands while
        # it (re)connects, and the loop above then stops at its next turn.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()


class RedisSessionRegistry:
    """Sessions in Redis, with :class:`ActiveSessionCache` in front of :meth:`get`."""

    def __init__(self, conn: RedisConnection, *, cache_seconds: float = 30.0) -> None:
        self.conn = conn
        self.cache = ActiveSessionCache(conn, max_age=cache_seconds)
        conn.closers.append(self.cache.close)

    async def create(self, record: SessionRecord) -> None:
        user = normalize_email(record.user)
        fields: dict[str, str | None] = {
            "sid": record.sid,
            "user": user,
            "chain": record.chain,
            "site": record.site,
            "ip": record.ip,
            "user_agent": record.user_agent,
            "created_at": _f(record.created_at),
            "last_seen_at": _f(record.last_seen_at),
            "via": record.via,
            "ended_at": None if record.ended_at is None else _f(record.ended_at),
            "end_reason": record.end_reason,
            "expires_at": None if record.expires_at is None else _f(record.expires_at),
            "app_ref": record.app_ref,
            "country": record.country or None,
            "device": record.device or None,
        }
        flat = [x for k, v in fields.items() if v is not None for x in (k, v)]
        head = [
            record.sid,
            user,
            record.chain,
            _f(record.created_at),
            fields["ended_at"] or "",
            fields["expires_at"] or "",
            record.app_ref or "",
        ]
        async with self.conn.errors():
            created = await self.conn.run(
                "session_create", _SESSION_CREATE, [self.conn.key("s", record.sid)], [*head, *flat]
            )
        if not created:
            raise StoreError("session registry: a session with this sid exists already")

    async def get(self, sid: str) -> SessionRecord | None:
        cache = self.cache
        usable = cache.usable
        if usable and (hit := cache.get(sid)) is not None:
            return hit
        epoch = cache.epoch
        async with self.conn.errors():
            h = await self.conn.hgetall(self.conn.key("s", sid))
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
            await self.conn.run("session_touch", _SESSION_TOUCH, [self.conn.key("s", sid)], [_f(when)])
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

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        index = self.conn.key("us", normalize_email(user)) if user else self.conn.key("all")
        found: list[SessionRecord] = []
        start = 0
        async with self.conn.errors():
            # Newest first, ties by sid descending: exactly ZREVRANGE's order.
            while len(found) < limit:
                sids = await self.conn.zrange(index, start, start + _BATCH - 1, desc=True)
                if not sids:
                    break
                start += len(sids)
                for h in await self.conn.hgetall_many([self.conn.key("s", sid) for sid in sids]):
                    if h and (include_ended or "ended_at" not in h):
                        found.append(_session(h))
        return found[:limit]

    # -- governance ------------------------------------------------------------------------
    # Redis keeps no index by address or by last request: these scan the site's sessions
    # (``{prefix}:all``, or the user's index), in batches of pipelined reads.

    async def _scan(self, index: str, *, newest_first: bool = True) -> AsyncIterator[SessionRecord]:
        start = 0
        while True:
            async with self.conn.errors():
                sids = await self.conn.zrange(index, start, start + _BATCH - 1, desc=newest_first)
                if not sids:
                    return
                rows = await self.conn.hgetall_many([self.conn.key("s", sid) for sid in sids])
            start += len(sids)
            for h in rows:
                if h:
                    yield _session(h)

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        index = self.conn.key("us", normalize_email(user)) if user else self.conn.key("all")
        found: builtins.list[SessionRecord] = []
        async for r in self._scan(index):
            if since is not None and r.created_at < since:
                break  # newest first: the rest are older
            if (ip is None or r.ip == ip) and (not active or r.active):
                found.append(r)
                if len(found) >= limit:
                    break
        return found

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        found = [
            r
            async for r in self._scan(self.conn.key("all"))
            if r.active and r.last_seen_at < seen_before and (after is None or (r.last_seen_at, r.sid) > after)
        ]
        return sorted(found, key=lambda r: (r.last_seen_at, r.sid))[:limit]

    async def erase_user(self, user: str) -> int:
        async with self.conn.errors():
            erased = await self.conn.run(
                "session_erase_user", _SESSION_ERASE_USER, [self.conn.key("us", normalize_email(user))], []
            )
        self.cache.forget(erased)
        return len(erased)

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        builder = StatsBuilder(since, until, top)
        async for record in self._scan(self.conn.key("all")):
            if not builder.record(record):
                break
        return builder.build()


_SESSION_ERASE_USER = """
local erased = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local chain = redis.call('HGET', skey(sid), 'chain')
  redis.call('DEL', skey(sid))
  if chain then redis.call('ZREM', T .. ':ch:' .. chain, sid) end
  for _, idx in ipairs({T .. ':all', T .. ':ended', T .. ':exp'}) do redis.call('ZREM', idx, sid) end
  erased[#erased + 1] = sid
end
redis.call('DEL', KEYS[1])
announce(erased)
return erased
"""


# -- replay cache -------------------------------------------------------------------------


class RedisReplayCache:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def use(self, jti: bytes, expires_at: float) -> bool:
        # Redis drops the key when its clock passes the expiry: recorded through expires_at.
        at = max(math.ceil(expires_at * 1000), 1)
        async with self.conn.errors():
            return bool(await self.conn.client.set(self.conn.key("j", jti.hex()), "1", nx=True, pxat=at))

    async def seen(self, jti: bytes) -> bool:
        async with self.conn.errors():
            return bool(await self.conn.client.exists(self.conn.key("j", jti.hex())))

    async def purge(self, now: float) -> int:
        return 0  # Redis deletes each id at its expiry by itself


# -- outbox -------------------------------------------------------------------------------

_OUTBOX_ADD = """
local messages = cjson.decode(ARGV[3])
for _, m in ipairs(messages) do
  if redis.call('EXISTS', T .. ':m:' .. m[1]) == 1 then return 0 end
end
for _, m in ipairs(messages) do
  local id, status, peer, due, fin = m[1], m[2], m[3], m[4], m[5]
  redis.call('HSET', T .. ':m:' .. id, unpack(m[6]))
  if status == 'pending' then
    redis.call('ZADD', T .. ':due', due, id)
    redis.call('SADD', T .. ':pq:' .. peer, id)
  else
    finished(id, peer, fin)
  end
end
return 1
"""

_OUTBOX_CLAIM = """
local now, until_, ids = tonumber(ARGV[3]), ARGV[4], {}
if ARGV[5] == 'due' then
  ids = redis.call('ZRANGEBYSCORE', T .. ':due', '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[6]))
else
  ids = cjson.decode(ARGV[6])
end
local claimed = {}
for _, id in ipairs(ids) do
  local k = T .. ':m:' .. id
  local f = redis.call('HMGET', k, 'status', 'next_attempt_at')
  if f[1] == 'pending' and tonumber(f[2]) <= now then
    redis.call('HSET', k, 'next_attempt_at', until_)
    redis.call('ZADD', T .. ':due', until_, id)
    claimed[#claimed + 1] = redis.call('HGETALL', k)
  elseif not f[1] then
    redis.call('ZREM', T .. ':due', id)
  end
end
return claimed
"""

_OUTBOX_DELIVERED = """
local f = redis.call('HMGET', KEYS[1], 'status', 'peer')
if not f[1] or f[1] == 'delivered' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'delivered', 'delivered_at', ARGV[4], 'finished_at', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
finished(ARGV[3], f[2], ARGV[4])
return 1
"""

_OUTBOX_FAILED = """
local f = redis.call('HMGET', KEYS[1], 'status', 'peer')
if f[1] ~= 'pending' then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'next_attempt_at', ARGV[5])
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'status', 'abandoned', 'finished_at', ARGV[7])
  finished(ARGV[3], f[2], ARGV[7])
else
  redis.call('ZADD', T .. ':due', ARGV[5], ARGV[3])
end
return 1
"""

_OUTBOX_RETRY_NOW = """
local now, moved = ARGV[3], 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = T .. ':m:' .. id
  local f = redis.call('HMGET', k, 'status', 'next_attempt_at')
  if f[1] == 'pending' then
    if tonumber(f[2]) > tonumber(now) then
      redis.call('HSET', k, 'next_attempt_at', now)
      redis.call('ZADD', T .. ':due', now, id)
      moved = moved + 1
    end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return moved
"""

_OUTBOX_DROP = """
local now, reason, dropped = ARGV[3], ARGV[4], 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local k = T .. ':m:' .. id
  local f = redis.call('HMGET', k, 'status', 'peer')
  if f[1] == 'pending' then
    redis.call('HSET', k, 'status', 'abandoned', 'last_error', reason, 'finished_at', now)
    finished(id, f[2], now)
    dropped = dropped + 1
  end
end
return dropped
"""

_OUTBOX_PURGE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local deleted = 0
for _, id in ipairs(ids) do
  local k = T .. ':m:' .. id
  local status = redis.call('HGET', k, 'status')
  if status and status ~= 'pending' then
    redis.call('DEL', k)
    deleted = deleted + 1
  end
  redis.call('ZREM', KEYS[1], id)
end
return {#ids, deleted}
"""


def _message_fields(m: OutboxMessage) -> list[str]:
    fields: dict[str, str | None] = {
        "id": m.id,
        "network": m.network,
        "peer": m.peer,
        "url": m.url,
        "kind": m.kind,
        "payload": json.dumps(m.payload),
        "created_at": _f(m.created_at),
        "next_attempt_at": _f(m.next_attempt_at),
        "attempts": str(m.attempts),
        "status": m.status.value,
        "last_error": m.last_error,
        "delivered_at": None if m.delivered_at is None else _f(m.delivered_at),
        "finished_at": None if m.finished_at is None else _f(m.finished_at),
    }
    return [x for k, v in fields.items() if v is not None for x in (k, v)]


def _message(h: dict[str, str]) -> OutboxMessage:
    return OutboxMessage(
        id=h["id"],
        network=h["network"],
        peer=h["peer"],
        url=h["url"],
        kind=h["kind"],
        payload=json.loads(h["payload"]),
        created_at=float(h["created_at"]),
        next_attempt_at=float(h["next_attempt_at"]),
        attempts=int(h["attempts"]),
        status=MessageStatus(h["status"]),
        last_error=h.get("last_error"),
        delivered_at=_opt(h.get("delivered_at")),
        finished_at=_opt(h.get("finished_at")),
    )


class RedisOutbox:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def add(self, messages: list[OutboxMessage]) -> None:
        if len({m.id for m in messages}) != len(messages):
            raise StoreError("outbox: a message with this id exists already")
        batch = [
            [
                m.id,
                m.status.value,
                m.peer,
                _f(m.next_attempt_at),
                "" if m.status is MessageStatus.PENDING else _f(finish_time(m)),
                _message_fields(m),
            ]
            for m in messages
        ]
        async with self.conn.errors():
            added = await self.conn.run("outbox_add", _OUTBOX_ADD, [self.conn.key("due")], [json.dumps(batch)])
        if not added:
            raise StoreError("outbox: a message with this id exists already")

    async def get(self, message_id: str) -> OutboxMessage | None:
        async with self.conn.errors():
            h = await self.conn.hgetall(self.conn.key("m", message_id))
        return _message(h) if h else None

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        args = [_f(now), _f(now + lease), "due", limit]
        async with self.conn.errors():
            rows = await self.conn.run("outbox_claim", _OUTBOX_CLAIM, [self.conn.key("due")], args)
        return [_message(_pairs(r)) for r in rows]

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        args = [_f(now), _f(now + lease), "ids", json.dumps(list(dict.fromkeys(ids)))]
        async with self.conn.errors():
            rows = await self.conn.run("outbox_claim", _OUTBOX_CLAIM, [self.conn.key("due")], args)
        return [_message(_pairs(r)) for r in rows]

    async def delivered(self, message_id: str, when: float) -> None:
        async with self.conn.errors():
            await self.conn.run(
                "outbox_delivered", _OUTBOX_DELIVERED, [self.conn.key("m", message_id)], [message_id, _f(when)]
            )

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None:
        args = [message_id, error, _f(next_attempt_at), "1" if abandon else "0", _f(time.time())]
        async with self.conn.errors():
            await self.conn.run("outbox_failed", _OUTBOX_FAILED, [self.conn.key("m", message_id)], args)

    async def retry_now(self, peer: str, now: float) -> int:
        async with self.conn.errors():
            moved = await self.conn.run("outbox_retry_now", _OUTBOX_RETRY_NOW, [self.conn.key("pq", peer)], [_f(now)])
        return int(moved)

    async def drop(self, ids: list[str]) -> int:
        if not ids:
            return 0
        args = [_f(time.time()), DROPPED_BY_OPERATOR, *dict.fromkeys(ids)]
        async with self.conn.errors():
            dropped = await self.conn.run("outbox_drop", _OUTBOX_DROP, [self.conn.key("due")], args)
        return int(dropped)

    async def pending(self) -> list[OutboxMessage]:
        async with self.conn.errors():
            ids = await self.conn.zrange(self.conn.key("due"), 0, -1)
            rows = await self.conn.hgetall_many([self.conn.key("m", message_id) for message_id in ids])
        messages = [_message(h) for h in rows if h and h.get("status") == MessageStatus.PENDING.value]
        return sorted(messages, key=lambda m: (m.created_at, m.id))

    async def purge(self, finished_before: float) -> int:
        count = 0
        while True:
            async with self.conn.errors():
                seen, deleted = await self.conn.run(
                    "outbox_purge", _OUTBOX_PURGE, [self.conn.key("fin")], [_f(finished_before), _BATCH]
                )
            count += int(deleted)
            if seen < _BATCH:
                return count


def redis_stores(
    url: str = "redis://localhost:6379/0",
    *,
    prefix: str = DEFAULT_PREFIX,
    retention: float = DEFAULT_RETENTION,
    cache_seconds: float = 30.0,
    client: Redis | None = None,
) -> Stores:
    """Stores on a Redis server: ``url`` for redis-py (no ``prefix``/``retention``
    options here: pass them as arguments), or a ``client`` made with
    ``decode_responses=True`` (Sentinel, Cluster). Connects on first use."""
    from asgi_sessionsync.stores.registry import redact

    if client is None:
        client = Redis.from_url(url, decode_responses=True)
        shown_as = redact(url)
    else:
        shown_as = f"{type(client).__name__} client"
    conn = RedisConnection(client, prefix=prefix, retention=retention, shown_as=shown_as)
    return Stores(
        users=RedisUserStore(conn),
        sessions=RedisSessionRegistry(conn, cache_seconds=cache_seconds),
        replay=RedisReplayCache(conn),
        outbox=RedisOutbox(conn),
        closer=conn,
    )
