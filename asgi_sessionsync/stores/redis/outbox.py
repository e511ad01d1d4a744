"""The outbox of back-channel messages in Redis, with its scripts.

Keys: ``{prefix}:m:<id>`` a message (a hash, with its ``seq``: the order the server took
it, from ``{prefix}:outbox-seq``); ``{prefix}:q:<peer> <user>`` a queue, its pending
messages by ``seq``; ``{prefix}:due`` the first message of every queue, by when it is due
(only those can be claimed); ``{prefix}:pending`` every pending message, by ``seq``;
``{prefix}:pq:<peer>`` a peer's pending messages; ``{prefix}:fin`` finished ones, by when;
``{prefix}:generation`` the data's generation. A message queued before queues existed is
in ``:due`` and in no queue: it is claimed as before (first of nothing)."""

from __future__ import annotations

import json
import time

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.base import (
    DROPPED_BY_OPERATOR,
    MessageStatus,
    OutboxMessage,
    finish_time,
    new_id,
)
from asgi_sessionsync.stores.redis.connection import _BATCH, RedisConnection, _f, _opt, _pairs

_OUTBOX_ADD = """
local messages = cjson.decode(ARGV[3])
for _, m in ipairs(messages) do
  if redis.call('EXISTS', T .. ':m:' .. m[1]) == 1 then return 0 end
end
for _, m in ipairs(messages) do
  local id, status, peer, due, fin, subject = m[1], m[2], m[3], m[4], m[5], m[6]
  local seq = redis.call('INCR', T .. ':outbox-seq')
  redis.call('HSET', T .. ':m:' .. id, 'seq', seq, 'subject', subject, unpack(m[7]))
  if status == 'pending' then
    local q = queue(peer, subject)
    if redis.call('ZCARD', q) == 0 then redis.call('ZADD', T .. ':due', due, id) end
    redis.call('ZADD', q, seq, id)
    redis.call('ZADD', T .. ':pending', seq, id)
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
  -- due first; equally due ones in the order they were queued
  local due = redis.call('ZRANGEBYSCORE', T .. ':due', '-inf', ARGV[3], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6]))
  local order = {}
  for i = 1, #due, 2 do
    local seq = tonumber(redis.call('HGET', T .. ':m:' .. due[i], 'seq') or '0')
    order[#order + 1] = {due[i], tonumber(due[i + 1]), seq}
  end
  table.sort(order, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    if a[3] ~= b[3] then return a[3] < b[3] end
    return a[1] < b[1]
  end)
  for _, entry in ipairs(order) do ids[#ids + 1] = entry[1] end
else
  ids = cjson.decode(ARGV[6])
end
local claimed = {}
for _, id in ipairs(ids) do
  local k = T .. ':m:' .. id
  local f = redis.call('HMGET', k, 'status', 'next_attempt_at', 'peer', 'subject')
  if f[1] == 'pending' and tonumber(f[2]) <= now and first_of_queue(id, f[3], f[4]) then
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
local f = redis.call('HMGET', KEYS[1], 'status', 'peer', 'subject')
if f[1] ~= 'pending' then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'next_attempt_at', ARGV[5])
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'status', 'abandoned', 'finished_at', ARGV[7])
  finished(ARGV[3], f[2], ARGV[7])
elseif first_of_queue(ARGV[3], f[2], f[3]) then
  redis.call('ZADD', T .. ':due', ARGV[5], ARGV[3])
end
return 1
"""

_OUTBOX_RETRY_NOW = """
local now, moved = ARGV[3], 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = T .. ':m:' .. id
  local f = redis.call('HMGET', k, 'status', 'next_attempt_at', 'peer', 'subject')
  if f[1] == 'pending' then
    if tonumber(f[2]) > tonumber(now) then
      redis.call('HSET', k, 'next_attempt_at', now)
      if first_of_queue(id, f[3], f[4]) then redis.call('ZADD', T .. ':due', now, id) end
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

_OUTBOX_GENERATION = """
if redis.call('SET', KEYS[1], ARGV[3], 'NX') then return ARGV[3] end
return redis.call('GET', KEYS[1])
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
                str(m.payload.get("sub", "")),
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
            queued = await self.conn.zrange(self.conn.key("pending"), 0, -1)
            ids = list(dict.fromkeys([*queued, *await self.conn.zrange(self.conn.key("due"), 0, -1)]))
            rows = await self.conn.hgetall_many([self.conn.key("m", message_id) for message_id in ids])
        messages = [_message(h) for h in rows if h and h.get("status") == MessageStatus.PENDING.value]
        return sorted(messages, key=lambda m: (m.created_at, m.id))

    async def generation(self) -> str:
        async with self.conn.errors():
            made = await self.conn.run(
                "outbox_generation", _OUTBOX_GENERATION, [self.conn.key("generation")], [new_id()]
            )
        return str(made)

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
