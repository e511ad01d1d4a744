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

from asgi_sessionsync.exceptions import ConfigError, SessionSyncError, StoreDamaged, StoreError
from asgi_sessionsync.stores.availability import Availability
from asgi_sessionsync.stores.sqlite.errors import is_busy, primary_code, unavailable_problem
from asgi_sessionsync.stores.sqlite.files import EXAMPLE, _prepare_file
from asgi_sessionsync.stores.sqlite.schema import _INDEXES, _SCHEMA, _governance_setup, _migrate, _transaction

T = TypeVar("T")


class SQLiteDatabase:
    """One connection to one file, shared by the five stores; see the module docstring."""

    BUSY_WAIT = 0.05  # seconds SQLite itself waits for a lock inside the worker thread
    SETTLE = 5.0  # seconds without a failed write before the file is said to be back

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
        # Whether the file answers: one line when it stops, one when it is back (a write
        # that works SETTLE seconds after the last failure: on a full disk some still do).
        self.availability = Availability(f"SQLite store {target}", settle=self.SETTLE)
        self._lock = threading.Lock()  # one statement at a time, even from two event loops
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar(f"sqlite-limiter-{id(self)}")
        try:
            self.connection = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=self.BUSY_WAIT
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the SQLite store at {target}: {error}") from None
        try:
            self._call(lambda c: _setup(c, self.busy_timeout, self.BUSY_WAIT, check=target != ":memory:"))
        except (sqlite3.Error, StoreDamaged) as error:
            self.connection.close()
            raise _refused_at_start(target, variable, error) from None
        except BaseException:
            self.connection.close()
            raise
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        if target != ":memory:":
            try:
                self._reader = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=0)
                self._reader.execute("PRAGMA query_only=1")
            except sqlite3.Error:
                self._reader = None  # every read then goes to the worker thread

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

    def _error(self, error: sqlite3.Error, *, write: bool) -> StoreError:
        """The package's error for SQLite's: :class:`~asgi_sessionsync.exceptions.StoreUnavailable` when the file
        cannot answer now (full disk, I/O error, read-only, damaged), else a StoreError."""
        problem = unavailable_problem(error)
        if problem is not None:
            return self.availability.failed(problem, str(error), write=write)
        return StoreError(f"SQLite store {self.path.name}: {error}")

    async def run(self, job: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``job(connection)`` in the worker thread; retry it while the database
        is locked by another connection. ``job`` must be safe to run again from the
        start (a single statement, or a :func:`_transaction`). ``write``: whether it
        writes (a full disk stops writes; reads go on)."""
        deadline: float | None = None
        delay = 0.002
        while True:
            try:
                result = await anyio.to_thread.run_sync(self._call, job, limiter=self._current_limiter())
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    raise self._error(error, write=write) from None
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if now >= deadline:
                    problem = f"locked by another process for more than {self.busy_timeout:g} s"
                    raise self.availability.failed(problem, str(error), write=write) from None
                await anyio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 0.1)
            except sqlite3.Error as error:
                raise self._error(error, write=write) from None
            else:
                self.availability.ok(write=write)
                return result

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = await self.run(lambda c: c.execute(sql, params).fetchone(), write=False)
        return row

    async def read_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """A point read on the loop (see the module's note); in the thread if it cannot."""
        reader = self._reader
        if reader is not None and self._reader_lock.acquire(blocking=False):
            try:
                row: tuple[Any, ...] | None = reader.execute(sql, params).fetchone()
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    raise self._error(error, write=False) from None
            except sqlite3.Error as error:
                raise self._error(error, write=False) from None
            else:
                self.availability.ok(write=False)
                return row
            finally:
                self._reader_lock.release()
        return await self.fetchone(sql, params)

    def data_version(self) -> int | None:
        """The reader connection's ``PRAGMA data_version``: it changes whenever another
        connection (this process's writer, another worker, a command) committed to the
        file since it was last read. None when it cannot be read now (no reader, or busy):
        then anything cached from the file must be read again."""
        reader = self._reader
        if reader is None or not self._reader_lock.acquire(blocking=False):
            return None
        try:
            row = reader.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        finally:
            self._reader_lock.release()
        return int(row[0]) if row else None

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await self.run(lambda c: c.execute(sql, params).fetchall(), write=False)
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


def _setup(c: sqlite3.Connection, busy_timeout: float, busy_wait: float, *, check: bool) -> None:
    """WAL, the schema, migrations, the governance counts; then, for a file (``check``),
    ``PRAGMA quick_check`` (about 0.2 s for 170 MB): a damaged page would otherwise show
    first at some request."""
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    # Start-up may wait longer for a lock than a request would.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            c.executescript(_SCHEMA)
            _transaction(c, _migrate)
            c.executescript(_INDEXES)
            _governance_setup(c)
            break
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() > deadline:
                raise
            time.sleep(busy_wait)
    if check:
        problems = [row[0] for row in c.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreDamaged("; ".join(problems))


def _refused_at_start(target: str, variable: str, error: BaseException) -> SessionSyncError:
    """Why the file cannot be opened, naming it: damaged or read-only files are a
    :class:`ConfigError` (the setting names a file that cannot serve), the rest a StoreError."""
    code = primary_code(error) if isinstance(error, sqlite3.Error) else None
    if isinstance(error, StoreDamaged) or code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return ConfigError(
            variable,
            f"the SQLite file {target} is damaged ({error}): restore it from a backup, or move it away "
            "to start with an empty store",
            EXAMPLE,
        )
    if code == sqlite3.SQLITE_READONLY:
        return ConfigError(variable, f"the SQLite file {target} is read-only ({error})", EXAMPLE)
    return StoreError(f"cannot open the SQLite store at {target}: {error}")
