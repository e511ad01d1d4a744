"""The memory store stays bounded: what expires or is purged is freed, table and all."""

from __future__ import annotations

import sys
import time

import anyio

from asgi_sessionsync.stores import OutboxMessage, SessionRecord, memory_stores, new_id
from asgi_sessionsync.stores.memory import MemoryReplayCache, MemorySessionRegistry
from asgi_sessionsync.stores.memory_outbox import MemoryOutbox


async def test_expired_replay_ids_are_freed_as_new_ones_come_in() -> None:
    stores = memory_stores()
    replay = stores.replay
    assert isinstance(replay, MemoryReplayCache)
    now = time.time()
    for i in range(2000):
        await replay.use(b"id-%d" % i, now + 0.05)
    full = sys.getsizeof(replay._used)
    await anyio.sleep(0.1)
    await replay.use(b"new", time.time() + 60)
    assert list(replay._used) == [b"new"]
    assert len(replay._expiries) == 1
    assert sys.getsizeof(replay._used) < full / 10


async def test_purged_sessions_and_messages_are_freed() -> None:
    stores = memory_stores()
    sessions, outbox = stores.sessions, stores.outbox
    assert isinstance(sessions, MemorySessionRegistry) and isinstance(outbox, MemoryOutbox)
    now = time.time()
    for _ in range(2000):
        record = SessionRecord(new_id(), "ann@example.com", new_id(), "https://a", "ip", "ua", now, now)
        await sessions.create(record)
        await sessions.end(record.sid, reason="x", when=now - 10)
        message = OutboxMessage(new_id(), "default", "https://b", "http://b", "logout", {}, now, now)
        await outbox.add([message])
        await outbox.delivered(message.id, now - 10)
    full = sys.getsizeof(sessions._sessions), sys.getsizeof(outbox._messages)

    assert await stores.purge(now, retention=5) == {
        "expired_sessions": 0,
        "purged_sessions": 2000,
        "purged_replay_ids": 0,
        "purged_messages": 2000,
        "purged_activity": 0,
        "purged_tombstones": 0,
        "purged_verified": 0,  # see test_contract_verified.py
    }
    assert sessions._sessions == {} and outbox._messages == {}
    assert sys.getsizeof(sessions._sessions) < full[0] / 10
    assert sys.getsizeof(outbox._messages) < full[1] / 10
