"""What only the Redis backend promises: revocation across processes through pub/sub,
TTLs on everything, URL options. Against a real redis-server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.stores import (
    OutboxMessage,
    SessionFilter,
    SessionRecord,
    Stores,
    check_store_url,
    new_id,
    open_stores,
)
from asgi_sessionsync.stores.analytics import analytics
from asgi_sessionsync.stores.redis import RedisSessionRegistry

T = TypeVar("T")

pytestmark = pytest.mark.asyncio_only("redis-py's asyncio client runs on asyncio only")


def record(**fields: object) -> SessionRecord:
    now = time.time()
    values: dict[str, object] = {
        "sid": new_id(),
        "user": "ann@example.com",
        "chain": new_id(),
        "site": "https://a.example",
        "ip": "203.0.113.9",
        "user_agent": "Browser/1",
        "created_at": now,
        "last_seen_at": now,
    }
    values.update(fields)
    return SessionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def prefix() -> str:
    return "t" + new_id().replace("-", "").replace("_", "")[:10]


@pytest.fixture
async def raw(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def two_processes(redis_server: str, prefix: str) -> AsyncIterator[tuple[Stores, Stores]]:
    """Two independent Stores on one server and prefix, as two worker processes have."""
    first, second = open_stores(f"{redis_server}?prefix={prefix}"), open_stores(f"{redis_server}?prefix={prefix}")
    yield first, second
    await first.close()
    await second.close()


async def cached(stores: Stores, sid: str) -> None:
    """Read ``sid`` until the registry answers it from its cache (subscription confirmed)."""
    registry = stores.sessions
    assert isinstance(registry, RedisSessionRegistry)
    with anyio.fail_after(5):
        while registry.cache.get(sid) is None:
            await registry.get(sid)
            await anyio.sleep(0.005)


async def seen_ended(stores: Stores, sid: str, *, within: float) -> SessionRecord:
    """Poll ``get(sid)`` until it reports the session ended; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while (seen := await stores.sessions.get(sid)) is not None and seen.active:
        assert time.monotonic() < deadline, "the end was never seen"
        await anyio.sleep(0.0005)
    assert seen is not None
    return seen


async def commands_processed(raw: Redis) -> int:
    return int((await raw.info("stats"))["total_commands_processed"])


async def test_cached_gets_make_no_round_trip(two_processes: tuple[Stores, Stores], raw: Redis) -> None:
    first, _ = two_processes
    session = record()
    await first.sessions.create(session)
    await cached(first, session.sid)
    before = await commands_processed(raw)
    for _ in range(200):
        assert await first.sessions.get(session.sid) == session
    # The INFO call itself counts; a PING of the subscription might.
    assert await commands_processed(raw) - before <= 3


Ending = Callable[[Stores, SessionRecord], Awaitable[object]]
ENDINGS: dict[str, Ending] = {
    "end": lambda s, r: s.sessions.end(r.sid, reason="signed out", when=time.time()),
    "end_user": lambda s, r: s.sessions.end_user(r.user, reason="revoked", when=time.time()),
    "end_chain_except": lambda s, r: s.sessions.end_chain_except(
        r.chain, "other", reason="re-synced", when=time.time()
    ),
    "expire": lambda s, r: s.sessions.expire(time.time() + 7200),
}


@pytest.mark.parametrize("ending", ENDINGS)
async def test_an_end_in_one_process_is_seen_by_get_in_another_within_milliseconds(
    two_processes: tuple[Stores, Stores], ending: str
) -> None:
    first, second = two_processes
    session = record(expires_at=time.time() + 3600)
    await first.sessions.create(session)
    await cached(second, session.sid)

    await ENDINGS[ending](first, session)
    started = time.monotonic()
    await seen_ended(second, session.sid, within=2)
    elapsed = time.monotonic() - started
    # Generous: the promise is one pub/sub delivery, about a millisecond on loopback.
    assert elapsed < 0.5, f"took {elapsed * 1000:.1f} ms"
    # And the process that ended it sees it at once, without waiting for the message.
    own = await first.sessions.get(session.sid)
    assert own is not None and not own.active


async def test_a_lost_subscription_empties_the_cache(two_processes: tuple[Stores, Stores], raw: Redis) -> None:
    first, second = two_processes
    session = record()
    await first.sessions.create(session)
    await cached(second, session.sid)

    await raw.client_kill_filter(_type="pubsub")  # every subscriber's connection drops
    await first.sessions.end(session.sid, reason="signed out", when=time.time())
    await seen_ended(second, session.sid, within=2)
    # Once subscribed again, the cache serves again.
    fresh = record()
    await first.sessions.create(fresh)
    await cached(second, fresh.sid)


async def test_touch_is_seen_by_the_touching_process_at_once(two_processes: tuple[Stores, Stores]) -> None:
    first, _ = two_processes
    session = record()
    await first.sessions.create(session)
    await cached(first, session.sid)
    await first.sessions.touch(session.sid, session.last_seen_at + 90)
    touched = await first.sessions.get(session.sid)
    assert touched is not None and touched.last_seen_at == session.last_seen_at + 90


async def test_every_row_has_a_ttl_from_its_lifetime_and_retention(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}&retention=3600")
    now = time.time()
    lasting, forever = record(expires_at=now + 600), record(chain="c-forever")
    for r in (lasting, forever):
        await stores.sessions.create(r)
    tag = "{" + prefix + "}"
    assert await raw.pexpiretime(f"{tag}:s:{lasting.sid}") == pytest.approx((now + 600 + 3600) * 1000, abs=2)
    assert await raw.pexpiretime(f"{tag}:s:{forever.sid}") == -1  # active with no lifetime: kept
    assert await raw.pexpiretime(f"{tag}:ch:c-forever") == -1

    await stores.sessions.end(forever.sid, reason="signed out", when=now)
    assert await raw.pexpiretime(f"{tag}:s:{forever.sid}") == pytest.approx((now + 3600) * 1000, abs=2)
    assert await raw.pexpiretime(f"{tag}:ch:c-forever") == pytest.approx((now + 3600) * 1000, abs=2)
    assert await raw.pexpiretime(f"{tag}:us:ann@example.com") == pytest.approx((now + 4200) * 1000, abs=2)

    await stores.replay.use(b"id", now + 60)
    assert await raw.pexpiretime(f"{tag}:j:{b'id'.hex()}") == pytest.approx((now + 60) * 1000, abs=2)

    pending, done = _message(now), _message(now)
    await stores.outbox.add([pending, done])
    await stores.outbox.delivered(done.id, now)
    assert await raw.pexpiretime(f"{tag}:m:{pending.id}") == -1
    assert await raw.pexpiretime(f"{tag}:m:{done.id}") == pytest.approx((now + 3600) * 1000, abs=2)
    await stores.close()


async def test_nothing_outlives_retention_even_without_purge(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}&retention=0.5")
    now = time.time()
    for _ in range(5):
        gone = record(expires_at=now + 0.1)
        await stores.sessions.create(gone)
        await stores.sessions.end(gone.sid, reason="x", when=now)
    messages = [_message(now) for _ in range(5)]
    await stores.outbox.add(messages)
    for m in messages:
        await stores.outbox.delivered(m.id, now)
    await stores.replay.use(b"short", now + 0.2)
    await anyio.sleep(1.0)

    # Later writes sweep the indexes of what Redis dropped.
    kept = record()
    await stores.sessions.create(kept)
    last = _message(time.time())
    await stores.outbox.add([last])
    await stores.outbox.delivered(last.id, time.time())
    tag = "{" + prefix + "}"
    keys = sorted(await raw.keys(f"{tag}*"))
    assert keys == sorted(
        [
            f"{tag}:s:{kept.sid}",
            f"{tag}:all",
            f"{tag}:us:ann@example.com",
            f"{tag}:ch:{kept.chain}",
            f"{tag}:ip:{kept.ip}",
            f"{tag}:seen",
            f"{tag}:m:{last.id}",
            f"{tag}:fin",
            f"{tag}:outbox-seq",  # one counter (the order messages were queued in), not a row
        ]
    )
    assert await raw.zrange(f"{tag}:all", 0, -1) == [kept.sid]
    assert await raw.zrange(f"{tag}:seen", 0, -1) == [kept.sid]  # the active sessions' last-seen index
    assert await raw.zrange(f"{tag}:ip:{kept.ip}", 0, -1) == [kept.sid]
    assert await raw.zrange(f"{tag}:fin", 0, -1) == [last.id]
    await stores.close()


async def test_purge_cleans_what_redis_dropped_by_itself(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}&retention=0.3")
    for _ in range(3):
        expiring = record(expires_at=time.time() + 0.05)
        await stores.sessions.create(expiring)
    await anyio.sleep(0.6)
    counts = await stores.purge(time.time(), retention=0.3)
    assert counts["purged_sessions"] == 0  # Redis had dropped them already
    tag = "{" + prefix + "}"
    assert await raw.keys(f"{tag}*") == []
    await stores.close()


async def test_the_app_ref_index_lives_and_goes_with_its_sessions(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}&retention=3600")
    now = time.time()
    referenced = record(expires_at=now + 600, app_ref="k1")
    await stores.sessions.create(referenced)
    tag = "{" + prefix + "}"
    assert await raw.zrange(f"{tag}:ref:k1", 0, -1) == [referenced.sid]
    assert await raw.pexpiretime(f"{tag}:ref:k1") == pytest.approx((now + 600 + 3600) * 1000, abs=2)
    await stores.sessions.end(referenced.sid, reason="x", when=now - 10)
    assert await raw.pexpiretime(f"{tag}:ref:k1") == pytest.approx((now + 600 + 3600) * 1000, abs=2)
    assert await stores.sessions.purge(now) == 1
    assert await raw.keys(f"{tag}:ref:*") == []
    await stores.close()


async def test_the_app_ref_index_of_sessions_redis_dropped_is_swept(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}&retention=0.3")
    now = time.time()
    gone = record(app_ref="k2")
    await stores.sessions.create(gone)
    await stores.sessions.end(gone.sid, reason="x", when=now)
    await anyio.sleep(0.6)
    await stores.sessions.create(record())  # a later write sweeps what Redis dropped
    tag = "{" + prefix + "}"
    assert await raw.keys(f"{tag}:ref:*") == []
    assert await stores.sessions.find_by_app_ref("k2") is None
    await stores.close()


def test_all_keys_of_a_site_share_one_cluster_slot(prefix: str) -> None:
    tag = "{" + prefix + "}"
    keys = [f"{tag}:s:abc", f"{tag}:us:ann@example.com", f"{tag}:ch:x", f"{tag}:all", f"{tag}:m:1", f"{tag}:j:00"]
    assert len({key_slot(k.encode()) for k in keys}) == 1


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://", "names no host"),
        ("redis://h:6379/zero", "database number"),
        ("redis://h/0?prefix={oops}", "no braces"),
        ("redis://h/0?prefix=", "prefix"),
        ("redis://h/0?retention=-5", "positive number"),
        ("redis://h/0?retention=soon", "positive number"),
        ("redis://h/0?colour=blue", "unknown Redis URL option 'colour'"),
        ("redis://h:99999/0", "valid Redis URL"),
    ],
)
def test_bad_redis_urls_are_config_errors(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="SESSIONSYNC_STORE") as caught:
        check_store_url(url)
    assert problem in str(caught.value)


def test_good_redis_urls_are_accepted() -> None:
    for url in (
        "redis://localhost",
        "redis://:secret@cache.internal:6380/2?prefix=shop.eu&retention=86400",
        "rediss://user:secret@cache.internal/0?socket_timeout=2",
    ):
        check_store_url(url)


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    stores = open_stores("redis://:hunter2@127.0.0.1:9/0?socket_connect_timeout=1")
    with pytest.raises(StoreError) as caught:
        await stores.sessions.get("sid")
    assert "hunter2" not in str(caught.value) and "127.0.0.1:9" in str(caught.value)
    await stores.close()


def _message(now: float) -> OutboxMessage:
    return OutboxMessage(
        id=new_id(),
        network="default",
        peer="https://b.example",
        url="http://b.internal",
        kind="logout",
        payload={"sub": "ann@example.com"},
        created_at=now,
        next_attempt_at=now,
    )


# -- the governance indexes: idle, search by address, analytics read what they need -----------


async def rows_read(raw: Redis, during: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """What ``during`` returns, and how many session rows (HGETALL, HMGET) it read on the server."""
    await raw.config_resetstat()
    result = await during()
    stats = await raw.info("commandstats")
    return result, sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("hgetall", "hmget"))


async def test_idle_reads_only_the_sessions_seen_too_long_ago(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}")
    now = time.time()
    busy = [record(expires_at=now + 3600) for _ in range(200)]
    quiet = [record(created_at=now - 7200, last_seen_at=now - 7200 + i, expires_at=now + 3600) for i in range(3)]
    for r in (*busy, *quiet):
        await stores.sessions.create(r)
    await stores.sessions.touch(quiet[0].sid, now)  # came back: no longer idle
    await stores.sessions.end(quiet[1].sid, reason="signed out", when=now)  # ended: never idle
    await stores.sessions.idle(now - 60)  # the first call may index older data once

    idle, read = await rows_read(raw, lambda: stores.sessions.idle(now - 60))
    assert [r.sid for r in idle] == [quiet[2].sid]
    assert read == 1  # not the 200 busy ones, nor the ended one
    await stores.close()


async def test_search_by_address_reads_only_that_addresss_sessions(redis_server: str, prefix: str, raw: Redis) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}")
    others = [record(ip="198.51.100.1") for _ in range(100)]
    mine = [record(ip="192.0.2.7", created_at=time.time() + i) for i in range(3)]
    for r in (*others, *mine):
        await stores.sessions.create(r)
    await stores.sessions.end(mine[0].sid, reason="signed out", when=time.time())
    await stores.sessions.search(ip="192.0.2.7")

    found, read = await rows_read(raw, lambda: stores.sessions.search(ip="192.0.2.7"))
    assert [r.sid for r in found] == [mine[2].sid, mine[1].sid, mine[0].sid]
    assert read == 3
    active, read = await rows_read(raw, lambda: stores.sessions.search(ip="192.0.2.7", active=True))
    assert [r.sid for r in active] == [mine[2].sid, mine[1].sid]
    assert read == 3
    await stores.close()


async def test_active_search_and_analytics_never_read_the_older_history(
    redis_server: str, prefix: str, raw: Redis
) -> None:
    stores = open_stores(f"{redis_server}?prefix={prefix}")
    now = time.time()
    day = 86400.0
    history = [record(created_at=now - 20 * day, last_seen_at=now - 20 * day) for _ in range(150)]
    for r in history:
        await stores.sessions.create(r)
        await stores.sessions.end(r.sid, reason="signed out", when=now - 19 * day)
    recent = [record(created_at=now - 10, device="desktop/Chrome/Linux/browser") for _ in range(4)]
    for r in recent:
        await stores.sessions.create(r)
    await stores.sessions.end(recent[0].sid, reason="idle", when=now - 5)
    await analytics(stores, now - 7 * day, now)

    stats, read = await rows_read(raw, lambda: analytics(stores, now - 7 * day, now))
    assert stats.total_logins == 4 and stats.active_sessions == 3 and stats.ended == {"idle": 1}
    assert read == 4  # the period's four sessions, each once
    active, read = await rows_read(raw, lambda: stores.sessions.search(active=True))
    newest_first = sorted(recent[1:], key=lambda r: (r.created_at, r.sid), reverse=True)
    assert [r.sid for r in active] == [r.sid for r in newest_first]
    assert read == 3
    await stores.close()


async def test_sessions_written_before_the_indexes_are_indexed_once(
    redis_server: str, prefix: str, raw: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefix whose data an older version wrote has no last-seen or address index: the
    first query that needs them builds them, in batches (two here, over equal creation
    times, so the paging over ties is exercised), then says so for every later process."""
    from asgi_sessionsync.stores.redis import records

    monkeypatch.setattr(records, "_BATCH", 2)
    stores = open_stores(f"{redis_server}?prefix={prefix}")
    now = time.time()
    same_time = [record(created_at=now - 3600, last_seen_at=now - 3600, expires_at=now + 3600) for _ in range(5)]
    ended = record(created_at=now - 3600, ip="192.0.2.9")
    for r in (*same_time, ended):
        await stores.sessions.create(r)
    await stores.sessions.end(ended.sid, reason="signed out", when=now - 100)
    tag = "{" + prefix + "}"
    await raw.delete(f"{tag}:seen", f"{tag}:ip:203.0.113.9", f"{tag}:ip:192.0.2.9", f"{tag}:indexes")
    await stores.close()

    older = open_stores(f"{redis_server}?prefix={prefix}")
    idle = await older.sessions.idle(now - 60)
    assert sorted(r.sid for r in idle) == sorted(r.sid for r in same_time)
    assert await raw.get(f"{tag}:indexes") == records.INDEXES_VERSION
    assert [r.sid for r in await older.sessions.search(ip="192.0.2.9")] == [ended.sid]
    assert await raw.zcard(f"{tag}:seen") == 5
    assert await raw.pexpiretime(f"{tag}:ip:192.0.2.9") > 0  # it goes with its ended session
    stats = await analytics(older, now - 86400, now)  # paged two by two over equal times
    assert (stats.total_logins, stats.active_sessions, stats.total_ended) == (6, 5, 1)
    await older.close()


async def test_a_burst_of_concurrent_calls_waits_for_a_connection_instead_of_failing(
    redis_server: str, prefix: str
) -> None:
    """More calls at once than the pool has connections (a burst of sign-ins in one
    worker): each waits its turn; none fails with "Too many connections"."""
    stores = open_stores(f"{redis_server}?prefix={prefix}&max_connections=8")
    try:
        results = []

        async def one(i: int) -> None:
            results.append(await stores.users.get(f"user{i}@example.com"))

        async with anyio.create_task_group() as group:
            for i in range(300):
                group.start_soon(one, i)
        assert results == [None] * 300
    finally:
        await stores.close()


async def test_pages_read_only_the_sessions_they_examine(redis_server: str, prefix: str, raw: Redis) -> None:
    """Issue #25: a page reads its own rows and one more, however deep its cursor; a
    filter reads at most ``budget`` rows; a row Redis has lost counts as examined."""
    stores = open_stores(f"{redis_server}?prefix={prefix}")
    now = time.time()
    made = [record(created_at=now - i, country="FR" if i % 50 == 7 else "DE") for i in range(300)]
    for r in made:
        await stores.sessions.create(r)
    every = SessionFilter()
    first, read = await rows_read(raw, lambda: stores.sessions.page(every, limit=5))
    assert [r.sid for r in first.records] == [r.sid for r in made[:5]] and read == 6
    deep, read = await rows_read(
        raw, lambda: stores.sessions.page(every, after=(made[249].created_at, made[249].sid), limit=5)
    )
    assert [r.sid for r in deep.records] == [r.sid for r in made[250:255]] and read == 6
    rare, read = await rows_read(raw, lambda: stores.sessions.page(SessionFilter(country="FR"), limit=5, budget=40))
    assert [r.sid for r in rare.records] == [made[7].sid] and read == 40
    assert rare.next == (made[39].created_at, made[39].sid)
    await raw.delete(f"{{{prefix}}}:s:{made[1].sid}")  # lost by Redis, still in the index
    gone, read = await rows_read(raw, lambda: stores.sessions.page(every, limit=3, budget=3))
    assert [r.sid for r in gone.records] == [made[0].sid, made[2].sid] and gone.next == (
        made[2].created_at,
        made[2].sid,
    )
    await stores.close()
