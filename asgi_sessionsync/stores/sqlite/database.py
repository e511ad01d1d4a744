"""The SQLite connection shared by the five stores of a file; see :mod:`asgi_sessionsync.stores.sqlite`."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.sqlite.files import _prepare_file
from asgi_sessionsync.stores.sqlite.schema import _BUSY, _INDEXES, _SCHEMA, _governance_setup, _migrate, _transaction

T = TypeVar("T")


class SQLiteDatabase:
    """One connection to one file, shared by the five stores; see the module docstring."""

    BUSY_WAIT = 0.05  # seconds SQLite itself waits for a lock inside the worker thread

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        variable: str = "SESSIONSYNC_STORE",
        busy_timeout: float = 10.0,
    ) -> None:
        target = _prepare_file(path, create=create, variable=variable)
        self.path = Path(target)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()  # one statement at a time, even from two event loops
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar(f"sqlite-limiter-{id(self)}")
        try:
            self.connection = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=self.BUSY_WAIT
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the SQLite store at {target}: {error}") from None
        try:
            self._call(self._setup)
        except sqlite3.Error as error:
            self.connection.close()
            raise StoreError(f"cannot open the SQLite store at {target}: {error}") from None
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        if target != ":memory:":
            try:
                self._reader = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=0)
                self._reader.execute("PRAGMA query_only=1")
            except sqlite3.Error:
                self._reader = None  # every read then goes to the worker thread

    def _setup(self, c: sqlite3.Connection) -> None:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        # Start-up may wait longer for a lock than a request would.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                c.executescript(_SCHEMA)
                _transaction(c, _migrate)
                c.executescript(_INDEXES)
                _governance_setup(c)
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(self.BUSY_WAIT)

    def _call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return job(self.connection)

    def _current_limiter(self) -> anyio.CapacityLimiter:
        # One limiter per event loop run: a limiter belongs to the loop that made it.
        try:
            return self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(1)
            self._limiter.set(limiter)
            return limiter

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(connection)`` in the worker thread; retry it while the database
        is locked by another connection. ``job`` must be safe to run again from the
        start (a single statement, or a :func:`_transaction`)."""
        deadline: float | None = None
        delay = 0.002
        while True:
            try:
                return await anyio.to_thread.run_sync(self._call, job, limiter=self._current_limiter())
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _BUSY:
                    raise StoreError(f"SQLite store {self.path.name}: {error}") from None
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if now >= deadline:
                    raise StoreError(
                        f"SQLite store {self.path}: locked by another connection for more than {self.busy_timeout:g} s"
                    ) from None
                await anyio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 0.1)
            except sqlite3.Error as error:
                raise StoreError(f"SQLite store {self.path.name}: {error}") from None

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = await self.run(lambda c: c.execute(sql, params).fetchone())
        return row

    async def read_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """A point read on the loop (see the module's note); in the thread if it cannot."""
        reader = self._reader
        if reader is not None and self._reader_lock.acquire(blocking=False):
            try:
                row: tuple[Any, ...] | None = reader.execute(sql, params).fetchone()
                return row
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _BUSY:
                    raise StoreError(f"SQLite store {self.path.name}: {error}") from None
            except sqlite3.Error as error:
                raise StoreError(f"SQLite store {self.path.name}: {error}") from None
            finally:
                self._reader_lock.release()
        return await self.fetchone(sql, params)

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await self.run(lambda c: c.execute(sql, params).fetchall())
        return rows

    async def change(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one writing statement; return how many rows it changed."""
        return await self.run(lambda c: c.execute(sql, params).rowcount)

    async def transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` inside BEGIN IMMEDIATE … COMMIT (rolled back if it raises)."""
        return await self.run(lambda c: _transaction(c, body))

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with self._reader_lock:
                reader.close()
        await anyio.to_thread.run_sync(self._call, lambda c: c.close())
