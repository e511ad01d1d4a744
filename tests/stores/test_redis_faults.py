"""A Redis store whose server is killed or paused (issue #23): every call is a
:class:`StoreUnavailable`, logged once when it starts and once when it ends; while it is
down, calls fail at once but for one probe a second; a session this process read shortly
before is still answered from its cache, for at most ``outage_grace`` seconds, unless
its end was heard. Against a real redis-server of each test's own."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from asgi_sessionsync.exceptions import ConfigError, StoreUnavailable
from asgi_sessionsync.stores import SessionRecord, Stores, check_store_url, new_id, open_stores
from asgi_sessionsync.stores.availability import PROBE_EVERY
from asgi_sessionsync.stores.redis import RedisSessionRegistry
from tests.harness.redis_server import RedisServer
from tests.stores.redis_server import controlled_redis_server

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
        "expires_at": now + 3600,
    }
    values.update(fields)
    return SessionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with controlled_redis_server(tmp_path / "redis", persistent=True) as running:
        yield running


@pytest.fixture
async def stores(server: RedisServer) -> AsyncIterator[Stores]:
    opened = open_stores(f"{server.url}?prefix=faults&socket_timeout=1")
    yield opened
    await opened.close()


def registry(stores: Stores) -> RedisSessionRegistry:
    assert isinstance(stores.sessions, RedisSessionRegistry)
    return stores.sessions


async def cached(stores: Stores, sid: str) -> None:
    """Read ``sid`` until the registry answers it from its cache (subscription confirmed)."""
    with anyio.fail_after(5):
        while registry(stores).cache.get(sid) is None:
            await stores.sessions.get(sid)
            await anyio.sleep(0.005)


def store_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "asgi_sessionsync.stores"]


async def subscription_lost(stores: Stores) -> None:
    """Until this process has seen its invalidation channel go (it then reads Redis)."""
    with anyio.fail_after(10):
        while registry(stores).cache.usable:  # noqa: ASYNC110 - a state of redis-py's, no event to wait on
            await anyio.sleep(0.01)


async def until_back(stores: Stores) -> None:
    with anyio.fail_after(15):
        while True:
            try:
                await stores.users.get("nobody@example.com")
                return
            except StoreUnavailable:
                await anyio.sleep(PROBE_EVERY / 4)


async def test_a_killed_server_is_store_unavailable_logged_once_and_back_once(
    server: RedisServer, stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await stores.users.get("nobody@example.com")
    server.kill()
    failures = 0
    for _ in range(30):
        with pytest.raises(StoreUnavailable) as caught:
            await stores.outbox.pending()
        failures += 1
        assert "faults" not in caught.value.problem
    assert stores.availability.down
    lines = store_lines(caplog)
    assert [level for level, _ in lines] == ["ERROR"], lines
    assert "unavailable" in lines[0][1] and server.url.split("//")[1].split("/")[0] in lines[0][1]

    server.start()  # with its data (append-only file)
    await until_back(stores)
    lines = store_lines(caplog)
    assert [level for level, _ in lines] == ["ERROR", "WARNING"], lines
    assert "available again after" in lines[1][1]
    assert f"{failures} operation(s) failed" in lines[1][1] or "operation(s) failed" in lines[1][1]
    assert "Traceback" not in caplog.text


async def test_while_down_calls_fail_at_once_except_one_probe_a_second(
    server: RedisServer, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stores.users.get("nobody@example.com")
    server.pause()
    try:
        with pytest.raises(StoreUnavailable, match="in time"):
            await stores.users.get("nobody@example.com")  # waits the socket timeout (1 s here)
        clock = time.monotonic()
        monkeypatch.setattr("asgi_sessionsync.stores.availability.time.monotonic", lambda: clock)
        for _ in range(20):  # the same instant: none of them is tried
            with pytest.raises(StoreUnavailable, match="not tried"):
                await stores.sessions.get("sid")
    finally:
        server.resume()
    monkeypatch.undo()
    await until_back(stores)


async def test_a_session_read_before_the_outage_is_answered_from_the_cache_for_a_while(
    server: RedisServer, stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    known, ended, never_read = record(), record(), record()
    for session in (known, ended, never_read):
        await stores.sessions.create(session)
    await cached(stores, known.sid)
    await cached(stores, ended.sid)
    await stores.sessions.end(ended.sid, reason="signed out", when=time.time())
    server.kill()
    await subscription_lost(stores)
    assert await stores.sessions.get(known.sid) == known
    for sid in (ended.sid, never_read.sid):
        got = None
        with contextlib.suppress(StoreUnavailable):
            got = await stores.sessions.get(sid)
        assert got is None or not got.active, sid  # an ended one is never served as active
    server.start()
    await until_back(stores)
    back = [m for level, m in store_lines(caplog) if level == "WARNING"]
    assert len(back) == 1 and "served from this process's cache" in back[0], back


async def test_the_cache_answers_during_an_outage_only_within_outage_grace(server: RedisServer, tmp_path: Path) -> None:
    stores = open_stores(f"{server.url}?prefix=grace&outage_grace=0.3")
    try:
        session = record()
        await stores.sessions.create(session)
        await cached(stores, session.sid)
        server.kill()
        await subscription_lost(stores)
        assert await stores.sessions.get(session.sid) == session
        await anyio.sleep(0.5)  # read from Redis more than outage_grace ago now
        with pytest.raises(StoreUnavailable):
            await stores.sessions.get(session.sid)
    finally:
        await stores.close()


def test_outage_grace_is_a_redis_url_option() -> None:
    check_store_url("redis://localhost/0?outage_grace=120")
    check_store_url("redis://localhost/0?outage_grace=0")
    with pytest.raises(ConfigError, match="outage_grace"):
        check_store_url("redis://localhost/0?outage_grace=soon")


async def test_the_outbox_generation_changes_when_the_server_comes_back_without_its_data(
    server: RedisServer, stores: Stores
) -> None:
    before = await stores.outbox.generation()
    server.kill()
    server.start()  # with its data: the same generation
    await until_back(stores)
    assert await stores.outbox.generation() == before
    server.kill()
    server.start(empty=True)
    await until_back(stores)
    assert await stores.outbox.generation() != before
