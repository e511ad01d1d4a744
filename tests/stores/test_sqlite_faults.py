"""A SQLite store that cannot answer (issue #23): a full disk, a read-only file, a lock held
past the busy timeout, a damaged file. Each is a :class:`StoreUnavailable` naming the
problem (never the driver's own exception), logged once when it starts and once when it
ends; nothing is half-written; a damaged or read-only file is refused at start-up.

The disk is made full with ``PRAGMA max_page_count`` (SQLite answers SQLITE_FULL, as on a
full disk); the fault suite (``tests/faults/``) does it with a real file size limit."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from asgi_sessionsync.exceptions import ConfigError, StoreUnavailable
from asgi_sessionsync.stores import OutboxMessage, SessionRecord, Stores, new_id, sqlite_stores
from asgi_sessionsync.stores.sqlite import SQLiteDatabase
from tests.readonly import read_only


def record(**fields: object) -> SessionRecord:
    now = time.time()
    values: dict[str, object] = {
        "sid": new_id(),
        "user": "ann@example.com",
        "chain": new_id(),
        "site": "https://a.example",
        "ip": "203.0.113.9",
        "user_agent": "Browser/1 " + "x" * 200,
        "created_at": now,
        "last_seen_at": now,
    }
    values.update(fields)
    return SessionRecord(**values)  # type: ignore[arg-type]


def database(stores: Stores) -> SQLiteDatabase:
    assert isinstance(stores.closer, SQLiteDatabase)
    return stores.closer


def fill_the_disk(stores: Stores) -> None:
    """From now on the file cannot grow: SQLite answers SQLITE_FULL, as on a full disk."""
    db = database(stores)
    pages = db.connection.execute("PRAGMA page_count").fetchone()[0]
    db.connection.execute(f"PRAGMA max_page_count = {pages}")


def free_the_disk(stores: Stores) -> None:
    database(stores).connection.execute("PRAGMA max_page_count = 1073741823")


def quick_to_settle(stores: Stores) -> Stores:
    """No wait before a write that works says the file is back (SQLiteDatabase.SETTLE)."""
    stores.availability.settle = 0.0
    return stores


def store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asgi_sessionsync.stores"]


async def test_a_full_disk_is_store_unavailable_logged_once_and_reads_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stores = quick_to_settle(sqlite_stores(tmp_path / "site.sqlite3"))
    kept = record()
    await stores.sessions.create(kept)
    fill_the_disk(stores)
    errors: list[StoreUnavailable] = []
    for _ in range(300):  # enough rows to need a new page
        try:
            await stores.sessions.create(record())
        except StoreUnavailable as error:
            errors.append(error)
    failures = len(errors)
    assert failures >= 5
    assert {e.problem for e in errors} == {"the disk is full"}
    assert all(str(tmp_path / "site.sqlite3") in str(e) for e in errors)
    # Reads still work, and a good read does not say the store is back.
    assert await stores.sessions.get(kept.sid) == kept
    lines = store_lines(caplog)
    assert len(lines) == 1 and "unavailable: the disk is full" in lines[0], lines
    assert [r.levelname for r in caplog.records if r.name == "asgi_sessionsync.stores"] == ["ERROR"]
    assert stores.availability.down

    free_the_disk(stores)
    await stores.sessions.create(record())
    lines = store_lines(caplog)
    assert len(lines) == 2, lines
    assert "available again after" in lines[1] and f"{failures} operation(s) failed" in lines[1], lines[1]
    assert not stores.availability.down
    assert "Traceback" not in caplog.text
    await stores.close()


async def test_a_write_that_fills_the_disk_leaves_nothing_half_written(tmp_path: Path) -> None:
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    fill_the_disk(stores)
    now = time.time()
    batch = [
        OutboxMessage(
            id=new_id(),
            network="default",
            peer="https://b.example",
            url="http://b.internal",
            kind="logout",
            payload={"sub": f"user{i}@example.com", "pad": "x" * 2000},
            created_at=now,
            next_attempt_at=now,
        )
        for i in range(50)
    ]
    with pytest.raises(StoreUnavailable):
        await stores.outbox.add(batch)
    free_the_disk(stores)
    assert [await stores.outbox.get(m.id) for m in batch] == [None] * len(batch)
    assert await stores.outbox.pending() == []
    check = sqlite3.connect(tmp_path / "site.sqlite3")
    assert check.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    check.close()
    await stores.close()


async def test_a_file_that_became_read_only_is_store_unavailable_saying_read_only(tmp_path: Path) -> None:
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    database(stores).connection.execute("PRAGMA query_only = 1")  # SQLITE_READONLY, as a read-only mount gives
    with pytest.raises(StoreUnavailable) as caught:
        await stores.sessions.create(record())
    assert caught.value.problem == "the file is read-only"
    await stores.close()


async def test_a_lock_held_past_the_busy_timeout_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    stores = quick_to_settle(sqlite_stores(path, busy_timeout=0.3))
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable) as caught:
        await stores.sessions.create(record())
    assert caught.value.problem == "locked by another process for more than 0.3 s"
    other_process.execute("ROLLBACK")
    other_process.close()
    await stores.sessions.create(record())
    assert not stores.availability.down
    await stores.close()


def damage(path: Path, page: int) -> None:
    """Overwrite one page of the file with garbage, as a failing disk might."""
    with sqlite3.connect(path) as check:
        size = check.execute("PRAGMA page_size").fetchone()[0]
    check.close()
    with path.open("r+b") as file:
        file.seek(size * (page - 1))
        file.write(bytes(range(256)) * (size // 256))


async def filled_file(path: Path) -> None:
    stores = sqlite_stores(path)
    for _ in range(200):
        await stores.sessions.create(record())
    await stores.close()
    with sqlite3.connect(path) as check:
        check.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    check.close()


async def test_a_file_with_damaged_pages_is_refused_at_start_up_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    await filled_file(path)
    damage(path, page=4)
    with pytest.raises(ConfigError) as caught:
        sqlite_stores(path)
    message = str(caught.value)
    assert str(path) in message and "damaged" in message, message
    assert caught.value.variable == "SESSIONSYNC_STORE"


async def test_a_file_that_is_not_a_database_is_refused_at_start_up_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "site.sqlite3"
    await filled_file(path)
    damage(path, page=1)
    with pytest.raises(ConfigError) as caught:
        sqlite_stores(path)
    assert str(path) in str(caught.value) and "damaged" in str(caught.value), str(caught.value)


async def test_a_read_only_file_is_named_read_only_at_start_up_not_cannot_create(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    path = directory / "site.sqlite3"
    await filled_file(path)
    with read_only(directory), pytest.raises(ConfigError) as caught:
        sqlite_stores(path)
    message = str(caught.value)
    assert "read-only" in message and str(path) in message, message
    assert "cannot create" not in message
