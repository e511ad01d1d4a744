"""The SQLite registry's per-process cache (#24): a signed-in request's session is
answered from memory, and never outlives a change to the file, whoever made it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio

from asgi_sessionsync.stores import open_stores
from asgi_sessionsync.stores.sqlite import sessions as sqlite_sessions
from tests.stores.test_contract import T0, session


def _reads(stores: Any) -> list[str]:
    """Counts the reads the registry sends to the file (wrapping the database's own
    read, which still runs)."""
    db = stores.sessions.db
    seen: list[str] = []
    read_one = db.read_one

    async def counting(sql: str, params: tuple[Any, ...] = ()) -> Any:
        seen.append(sql)
        return await read_one(sql, params)

    db.read_one = counting
    return seen


async def _until_ended(stores: Any, sid: str) -> Any:
    for _ in range(2000):
        stored = await stores.sessions.get(sid)
        if stored is None or not stored.active:
            return stored
        await anyio.sleep(0.001)
    return stored


async def test_a_session_read_once_is_answered_from_memory(tmp_path: Path) -> None:
    stores = open_stores(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        record = session()
        await stores.sessions.create(record)
        reads = _reads(stores)
        for _ in range(5):
            got = await stores.sessions.get(record.sid)
            assert got == record
        assert len(reads) == 1
    finally:
        await stores.close()


async def test_this_process_sees_its_own_end_at_once(tmp_path: Path) -> None:
    stores = open_stores(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        record = session()
        await stores.sessions.create(record)
        assert (await stores.sessions.get(record.sid)).active  # type: ignore[union-attr]
        assert await stores.sessions.end(record.sid, reason="signed-out", when=T0 + 1)
        got = await stores.sessions.get(record.sid)  # no wait: the very next read
        assert got is not None and got.end_reason == "signed-out"
        await stores.sessions.create(other := session())
        await stores.sessions.get(other.sid)
        assert await stores.sessions.end_user("ann@example.com", reason="revoked", when=T0 + 2) == 1
        got = await stores.sessions.get(other.sid)
        assert got is not None and got.end_reason == "revoked"
    finally:
        await stores.close()


async def test_an_end_written_by_another_process_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    stores = open_stores(f"sqlite:///{path}")
    try:
        record = session()
        await stores.sessions.create(record)
        assert (await stores.sessions.get(record.sid)).active  # type: ignore[union-attr]
        # Another program on the file, as a worker or a command line would be.
        await anyio.run_process(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                "c.execute(\"UPDATE sessions SET ended_at = 1, end_reason = 'revoked' WHERE sid = ?\","
                " (sys.argv[2],)); c.commit()",
                str(path),
                record.sid,
            ]
        )
        stored = await _until_ended(stores, record.sid)
        assert stored is not None and stored.end_reason == "revoked"
    finally:
        await stores.close()


async def test_a_read_that_overlaps_an_end_is_not_kept(tmp_path: Path) -> None:
    """A read that started before an end and returns after it holds the old row: served
    to the request that asked, never cached for the next."""
    stores = open_stores(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        record = session()
        await stores.sessions.create(record)
        db = stores.sessions.db  # type: ignore[attr-defined]
        read_one = db.read_one
        read_done, end_done = anyio.Event(), anyio.Event()

        async def slow_read(sql: str, params: tuple[Any, ...] = ()) -> Any:
            row = await read_one(sql, params)
            read_done.set()
            await end_done.wait()
            return row

        db.read_one = slow_read
        first: list[Any] = []

        async def reading() -> None:
            first.append(await stores.sessions.get(record.sid))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reading)
            await read_done.wait()
            db.read_one = read_one
            assert await stores.sessions.end(record.sid, reason="signed-out", when=T0 + 1)
            # Another request asks meanwhile and sees the end (and records the file's version).
            assert not (await stores.sessions.get(record.sid)).active  # type: ignore[union-attr]
            end_done.set()
        assert first[0].active  # the read in flight answered what it read
        got = await stores.sessions.get(record.sid)
        assert got is not None and got.end_reason == "signed-out"
    finally:
        await stores.close()


async def test_when_the_file_cannot_be_asked_nothing_is_cached(tmp_path: Path) -> None:
    stores = open_stores(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        record = session()
        await stores.sessions.create(record)
        db = stores.sessions.db  # type: ignore[attr-defined]
        db.data_version = lambda: None  # the reader busy or gone
        reads = _reads(stores)
        for _ in range(3):
            await stores.sessions.get(record.sid)
            stores.sessions._checked = -1e18  # type: ignore[attr-defined]  # look again each time
        assert len(reads) == 3
    finally:
        await stores.close()


async def test_the_cache_is_bounded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(sqlite_sessions, "CACHE_MAX", 4)
    stores = open_stores(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        records = [session() for _ in range(10)]
        for record in records:
            await stores.sessions.create(record)
        for record in records:
            await stores.sessions.get(record.sid)
            assert len(stores.sessions._cache) <= 4  # type: ignore[attr-defined]
    finally:
        await stores.close()
