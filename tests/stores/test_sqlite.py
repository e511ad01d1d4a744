"""What only the SQLite backend promises: file modes, migration, a loop that never blocks."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores import (
    ActivityFilter,
    Direction,
    MessageStatus,
    SessionFilter,
    SessionRecord,
    User,
    new_id,
    sqlite_stores,
)
from asgi_sessionsync.stores.analytics import analytics

# The schema as the first release wrote it, to test migration from a real older file.
FIRST_RELEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    email TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    created_at REAL NOT NULL,
    provisioned_by TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    chain TEXT NOT NULL,
    site TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    via TEXT NOT NULL,
    ended_at REAL,
    end_reason TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user, ended_at);
CREATE TABLE IF NOT EXISTS used_ids (
    jti BLOB PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS used_ids_expiry ON used_ids (expires_at);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    network TEXT NOT NULL,
    peer TEXT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
"""


@pytest.fixture
def umask_zero() -> Iterator[None]:
    # With no umask, only the code decides the mode of a new file.
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


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


@pytest.mark.usefixtures("umask_zero")
async def test_the_database_and_its_wal_files_are_owner_only_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    stores = sqlite_stores(path)
    await stores.sessions.create(record())
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    modes = {f.name: oct(f.stat().st_mode & 0o777) for f in files}
    await stores.close()
    assert modes == {f.name: "0o600" for f in files}


async def test_a_database_made_by_the_first_release_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(FIRST_RELEASE_SCHEMA)
    old.execute(
        "INSERT INTO sessions VALUES ('s1', 'ann@example.com', 'c1', 'https://a.example', '1.2.3.4', 'UA',"
        " 1000.5, 1001.5, 'login', NULL, NULL)"
    )
    old.execute(
        "INSERT INTO outbox VALUES ('m1', 'default', 'https://b.example', 'http://b', 'logout', '{}',"
        " 2000.0, 2000.0, 1, 'delivered', NULL, 2001.25)"
    )
    old.execute(
        "INSERT INTO outbox VALUES ('m2', 'default', 'https://b.example', 'http://b', 'logout', '{}',"
        " 2000.0, 2000.0, 0, 'pending', NULL, NULL)"
    )
    old.commit()
    old.close()

    for _ in range(2):  # and opening it again changes nothing
        stores = sqlite_stores(path)
        session = await stores.sessions.get("s1")
        assert session is not None and (session.created_at, session.expires_at, session.active) == (1000.5, None, True)
        delivered = await stores.outbox.get("m1")
        assert delivered is not None and delivered.status is MessageStatus.DELIVERED
        assert delivered.finished_at == 2001.25  # finished when it was delivered
        pending = await stores.outbox.get("m2")
        assert pending is not None and pending.finished_at is None
        await stores.close()

    stores = sqlite_stores(path)
    await stores.sessions.create(record(sid="s2", expires_at=time.time() - 1))
    assert await stores.sessions.expire(time.time()) == 1
    assert await stores.outbox.purge(2001.5) == 1
    await stores.sessions.create(record(sid="s3", app_ref="app-login-3"))
    found = await stores.sessions.find_by_app_ref("app-login-3")
    assert found is not None and found.sid == "s3"
    migrated = await stores.sessions.get("s1")
    assert migrated is not None and migrated.app_ref is None
    await stores.close()
    check = sqlite3.connect(path)
    columns = {row[1] for row in check.execute("PRAGMA table_info(sessions)")}
    check.close()
    assert {"expires_at", "app_ref"} <= columns


async def test_a_locked_database_makes_writes_wait_without_blocking_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    stores = sqlite_stores(path)
    await stores.users.create(User("ann@example.com", "member"))
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # holds the write lock, as another worker might
    ticks = 0
    written = anyio.Event()

    async def write() -> None:
        await stores.sessions.create(record(sid="waited"))
        written.set()

    async def tick() -> None:
        nonlocal ticks
        while not written.is_set():
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(write)
        tasks.start_soon(tick)
        await anyio.sleep(0.5)
        assert not written.is_set()
        assert ticks >= 20  # the loop kept running: 0.5 s at one tick per 10 ms, with room
        other_process.execute("COMMIT")
    assert await stores.sessions.get("waited") is not None
    other_process.close()
    await stores.close()


async def test_a_lock_held_past_the_busy_timeout_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    stores = sqlite_stores(path, busy_timeout=0.3)
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(StoreError, match="locked"):
        await stores.sessions.create(record())
    assert 0.3 <= time.monotonic() - started < 2
    other_process.execute("ROLLBACK")
    other_process.close()
    await stores.close()


def test_the_sqlite_store_works_under_trio(tmp_path: Path) -> None:
    pytest.importorskip("trio")

    async def main() -> None:
        stores = sqlite_stores(tmp_path / "trio.sqlite3")
        session = record()
        await stores.sessions.create(session)
        assert await stores.sessions.get(session.sid) == session
        results: list[bool] = []

        async def use() -> None:
            results.append(await stores.replay.use(b"once", time.time() + 60))

        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(use)
        assert results.count(True) == 1
        await stores.close()

    anyio.run(main, backend="trio")


async def test_client_types_of_a_file_made_before_they_were_counted_are_counted_once_on_open(tmp_path: Path) -> None:
    path = tmp_path / "counted.sqlite3"
    stores = sqlite_stores(path)
    day = 86400.0
    start = (time.time() // day) * day
    devices = ["desktop/Chrome/Linux/browser", "other/curl/Other/library", "desktop/Chrome/Linux/browser"]
    for i, device in enumerate(devices):
        await stores.sessions.create(record(sid=f"s{i}", created_at=start + i, device=device))
    await stores.close()
    older = sqlite3.connect(path)  # as the release before client types left it
    older.execute("DROP TRIGGER session_counts_client")
    older.execute("DELETE FROM session_counts WHERE kind = 'client'")
    older.commit()
    older.close()

    for _ in range(2):  # counted once, not again at the next open
        stores = sqlite_stores(path)
        stats = await analytics(stores, start, start + day)
        assert stats.clients == {"browser": 2, "library": 1}
        await stores.close()
    stores = sqlite_stores(path)
    await stores.sessions.create(record(sid="s9", created_at=start + 9, device="bot/Googlebot/Other/bot"))
    assert (await analytics(stores, start, start + day)).clients == {"browser": 2, "bot": 1, "library": 1}
    await stores.close()


def plan(path: Path, sql: str, params: tuple[object, ...]) -> str:
    check = sqlite3.connect(path)
    try:
        return " | ".join(str(row[3]) for row in check.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        check.close()


async def test_a_file_from_before_the_console_gets_its_page_indexes_and_the_actor_on_open(tmp_path: Path) -> None:
    """Issue #25: the indexes of the pages by cursor and the activity log's ``actor``
    column are added to an existing file (the schema's migration on open), its entries
    read with no actor, and the pages then walk those indexes."""
    path = tmp_path / "before-console.sqlite3"
    stores = sqlite_stores(path)
    await stores.close()
    older = sqlite3.connect(path)  # as the release before the console left it
    for name in ("sessions_user_page", "sessions_ip_page", "activity_actor", "activity_filter"):
        older.execute(f"DROP INDEX {name}")
    older.execute("ALTER TABLE activity DROP COLUMN actor")
    older.execute("CREATE INDEX sessions_ip ON sessions (ip, created_at)")
    older.execute(
        "INSERT INTO activity VALUES ('e1', 1000.5, 'https://a.example', 'sent', 'https://b.example', 'logout',"
        " 'ann@example.com', 'delivered', '', 'm1')"
    )
    older.commit()
    older.close()

    for _ in range(2):  # and opening it again changes nothing
        stores = sqlite_stores(path)
        assert stores.activity is not None
        [old] = await stores.activity.list()
        assert (old.id, old.actor) == ("e1", "")
        await stores.close()
    stores = sqlite_stores(path)
    assert stores.activity is not None
    await stores.activity.record([replace(old, id="e2", at=1001.0, direction=Direction.LOCAL, actor="op@example.com")])
    assert [e.id for e in await stores.activity.list(ActivityFilter(actor="op@example.com"))] == ["e2"]
    await stores.sessions.create(record(sid="s1", ip="192.0.2.7"))
    page = await stores.sessions.page(SessionFilter(ip="192.0.2.7"))
    assert [r.sid for r in page.records] == ["s1"]
    await stores.close()
    check = sqlite3.connect(path)
    indexes = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    check.close()
    assert {"sessions_user_page", "sessions_ip_page", "activity_actor", "activity_filter"} <= indexes
    assert "sessions_ip" not in indexes  # a prefix of sessions_ip_page
    # What the indexes are for: the actor's entries, a user's entries, from a cursor.
    entries = "SELECT id FROM activity WHERE actor = ? AND actor != '' AND at <= ? AND (at < ? OR id < ?)"
    assert "activity_actor" in plan(path, entries + " ORDER BY at DESC, id DESC", ("a", 1.0, 1.0, "x"))
    by_user = entries.replace("actor", "user") + " ORDER BY at DESC, id DESC"
    assert "activity_user" in plan(path, by_user, ("a", 1.0, 1.0, "x"))
