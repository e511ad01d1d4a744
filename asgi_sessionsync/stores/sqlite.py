"""SQLite stores: the embedded default. One file per site, no server.

Nothing that can wait runs on the event loop: every write (or transaction) runs in a
worker thread through anyio, at most one at a time per database, so asyncio and trio
both work and a lock held by another process never stalls other requests.

Note: the point reads of the per-request path (``sessions.get``, ``users.get``,
``replay.seen``) run on the loop, on a read-only connection of their own with no busy
timeout. In WAL mode a reader never waits for a writer, so such a read is a few
microseconds of page-cache work; the thread hop would cost about 0.1 ms on a small VM
(``python -m benchmarks.stores``), ten times the statement. A read that SQLite answers
with "busy" (a checkpoint resetting the log, recovery after a crash) is not retried on
the loop: it goes to the worker thread like a write.

Several worker processes may share the file (WAL mode). A write that finds the
database locked waits a short busy timeout in its thread, then gives the thread back
and retries after an async sleep, for up to ``busy_timeout`` seconds in all.

Opening (creating the file 0600, the schema, migrating an older file) is done at
once by :func:`sqlite_stores`: it is start-up work.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from asgi_sessionsync.exceptions import ConfigError, StoreError
from asgi_sessionsync.stores.base import (
    DROPPED_BY_OPERATOR,
    EXPIRED,
    MessageStatus,
    OutboxMessage,
    SessionRecord,
    Stores,
    User,
    finish_time,
    normalize_email,
)
from asgi_sessionsync.stores.stats import BLOCKED, DAY, SessionStats, StatsBuilder

T = TypeVar("T")

_SCHEMA = """
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
    end_reason TEXT,
    expires_at REAL,
    app_ref TEXT,
    country TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS used_ids (
    jti BLOB PRIMARY KEY,
    expires_at REAL NOT NULL
);
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
    delivered_at REAL,
    finished_at REAL
);
"""

# Columns added after the first release, added to older files on open.
_ADDED_COLUMNS = {
    "sessions": [
        ("expires_at", "REAL"),
        ("app_ref", "TEXT"),
        ("country", "TEXT NOT NULL DEFAULT ''"),
        ("device", "TEXT NOT NULL DEFAULT ''"),
    ],
    "outbox": [("finished_at", "REAL")],
}

_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user, ended_at);
CREATE INDEX IF NOT EXISTS sessions_chain ON sessions (chain) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_at, sid);
CREATE INDEX IF NOT EXISTS sessions_app_ref ON sessions (app_ref) WHERE app_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_seen ON sessions (last_seen_at, sid) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_ip ON sessions (ip, created_at);
CREATE INDEX IF NOT EXISTS sessions_active ON sessions (user, expires_at, created_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS used_ids_expiry ON used_ids (expires_at);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_peer ON outbox (peer) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_finished ON outbox (finished_at) WHERE status != 'pending';
"""

# Governance: per UTC day, how many sessions started (by via, device class, country),
# were refused ("blocked") and ended (by reason), kept by triggers in the same statement
# as the change, so analytics read a few hundred rows instead of scanning the registry.
# Counts hold no personal data and outlive purges and erasures of the rows they counted.
_NOT_BLOCKED = "(NEW.end_reason IS NULL OR substr(NEW.end_reason, 1, 7) != 'blocked')"
_GOVERNANCE = f"""
CREATE TABLE IF NOT EXISTS session_counts (
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, kind, key)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS session_counts_started AFTER INSERT ON sessions BEGIN
  INSERT INTO session_counts (day, kind, key, n)
  SELECT CAST(NEW.created_at / 86400 AS INTEGER), k, v, 1 FROM (
    SELECT 'blocked' AS k, '' AS v WHERE NOT {_NOT_BLOCKED}
    UNION ALL SELECT 'via', NEW.via WHERE {_NOT_BLOCKED}
    UNION ALL SELECT 'device', substr(NEW.device, 1, instr(NEW.device || '/', '/') - 1) WHERE {_NOT_BLOCKED}
    UNION ALL SELECT 'country', NEW.country WHERE {_NOT_BLOCKED}
  ) WHERE true
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
  INSERT INTO session_counts (day, kind, key, n)
  SELECT CAST(NEW.ended_at / 86400 AS INTEGER), 'end', COALESCE(NEW.end_reason, ''), 1
  WHERE NEW.ended_at IS NOT NULL AND {_NOT_BLOCKED}
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS session_counts_ended AFTER UPDATE OF ended_at ON sessions
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL BEGIN
  INSERT INTO session_counts (day, kind, key, n)
  VALUES (CAST(NEW.ended_at / 86400 AS INTEGER), 'end', COALESCE(NEW.end_reason, ''), 1)
  ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1;
END;
"""
_BACKFILL = """
INSERT INTO session_counts (day, kind, key, n)
SELECT day, kind, key, SUM(n) FROM (
  SELECT CAST(created_at / 86400 AS INTEGER) AS day,
         CASE WHEN substr(end_reason, 1, 7) = 'blocked' THEN 'blocked' ELSE 'via' END AS kind,
         CASE WHEN substr(end_reason, 1, 7) = 'blocked' THEN '' ELSE via END AS key, COUNT(*) AS n
    FROM sessions GROUP BY 1, 2, 3
  UNION ALL SELECT CAST(created_at / 86400 AS INTEGER), 'device', substr(device, 1, instr(device || '/', '/') - 1),
         COUNT(*) FROM sessions WHERE end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked' GROUP BY 1, 3
  UNION ALL SELECT CAST(created_at / 86400 AS INTEGER), 'country', country, COUNT(*) FROM sessions
   WHERE end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked' GROUP BY 1, 3
  UNION ALL SELECT CAST(ended_at / 86400 AS INTEGER), 'end', COALESCE(end_reason, ''), COUNT(*) FROM sessions
   WHERE ended_at IS NOT NULL AND (end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked') GROUP BY 1, 3
) GROUP BY 1, 2, 3
"""


def _governance_setup(c: sqlite3.Connection) -> None:
    """The daily counts and their triggers; counted from the rows once for an older file."""

    def setup(c: sqlite3.Connection) -> None:
        new = c.execute("SELECT 1 FROM sqlite_master WHERE name = 'session_counts'").fetchone() is None
        for statement in _split_statements(_GOVERNANCE):
            c.execute(statement)
        if new:
            c.execute(_BACKFILL)

    _transaction(c, setup)


def _split_statements(script: str) -> list[str]:
    """The statements of ``script`` (triggers hold inner semicolons: split at complete ones)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


_USER_COLUMNS = "email, role, name, password_hash, created_at, provisioned_by"
_SESSION_COLUMNS = (
    "sid, user, chain, site, ip, user_agent, created_at, last_seen_at, via, ended_at, end_reason, expires_at,"
    " app_ref, country, device"
)
_OUTBOX_COLUMNS = (
    "id, network, peer, url, kind, payload, created_at, next_attempt_at, attempts, status, last_error,"
    " delivered_at, finished_at"
)


EXAMPLE = "SESSIONSYNC_STORE=sqlite:////var/lib/myapp/sessionsync.sqlite3"
_PREFIX = "sqlite:///"


def sqlite_path(url: str, variable: str = "SESSIONSYNC_STORE") -> str:
    """The file a ``sqlite:///`` URL names, in SQLAlchemy's convention:
    ``sqlite:///relative/path`` (to the working directory), ``sqlite:////absolute/path``,
    ``sqlite:///:memory:``."""
    if not url.startswith(_PREFIX):
        raise ConfigError(variable, "a SQLite store location starts with sqlite:/// (three slashes)", EXAMPLE)
    path = url[len(_PREFIX) :]
    if not path:
        raise ConfigError(variable, "sqlite:/// names no file", EXAMPLE)
    if "?" in path or "#" in path:
        raise ConfigError(variable, "a SQLite store location takes no ?options or #fragment", EXAMPLE)
    return path


def check_sqlite_path(path: str | Path, variable: str = "SESSIONSYNC_STORE") -> None:
    """Refuse, without creating anything, a path that can never hold the database:
    a directory, or one under a parent that is a file."""
    if str(path) == ":memory:":
        return
    resolved = Path(os.path.abspath(path))
    try:
        if resolved.is_dir():
            raise ConfigError(variable, f"{resolved} is a directory, not a database file", EXAMPLE)
        ancestor = resolved.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ConfigError(
                variable, f"the directory {resolved.parent} cannot be created: {ancestor} is not a directory", EXAMPLE
            )
    except OSError as error:
        raise ConfigError(variable, f"cannot check {resolved}: {error.strerror}", EXAMPLE) from None


def _prepare_file(path: str | Path, *, create: bool, variable: str) -> str:
    """The path to connect to, the file made (mode 0600) or its absence refused."""
    if str(path) == ":memory:":
        return ":memory:"
    check_sqlite_path(path, variable)
    resolved = Path(os.path.abspath(path))
    if not create:
        if not resolved.is_file():
            raise StoreError(f"no SQLite store at {resolved} (nothing was created): check {variable}")
        return str(resolved)
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            variable, f"the directory {resolved.parent} cannot be created: {error.strerror}", EXAMPLE
        ) from None
    try:
        # Created owner-only before SQLite opens it: sessions and password hashes are
        # never readable by others, not even for a moment; SQLite gives the -wal and
        # -shm files the same mode. An existing file keeps the mode it has.
        os.close(os.open(resolved, os.O_RDWR | os.O_CREAT, 0o600))
    except IsADirectoryError:
        raise ConfigError(variable, f"{resolved} is a directory, not a database file", EXAMPLE) from None
    except OSError as error:
        raise ConfigError(variable, f"cannot create the database file {resolved}: {error.strerror}", EXAMPLE) from None
    return str(resolved)


_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteDatabase:
    """One connection to one file, shared by the four stores; see the module docstring."""

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


def _transaction(c: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    c.execute("BEGIN IMMEDIATE")
    try:
        result = body(c)
        c.execute("COMMIT")
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise
    return result


def _migrate(c: sqlite3.Connection) -> None:
    # Inside a write transaction, so that two processes opening an older file at once
    # do not both add a column.
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in present:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    c.execute(
        "UPDATE outbox SET finished_at = COALESCE(delivered_at, created_at)"
        " WHERE status != 'pending' AND finished_at IS NULL"
    )


class SQLiteUserStore:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def get(self, email: str) -> User | None:
        row = await self.db.read_one(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (normalize_email(email),))
        return User(*row) if row else None

    async def create(self, user: User) -> User:
        email = normalize_email(user.email)
        values = (email, user.role, user.name, user.password_hash, user.created_at or time.time(), user.provisioned_by)

        def create(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            c.execute(f"INSERT OR IGNORE INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", values)
            row: tuple[Any, ...] | None = c.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,)
            ).fetchone()
            return row

        row = await self.db.run(create)
        if row is None:
            raise StoreError(f"SQLite store {self.db.path.name}: a user vanished right after it was stored")
        return User(*row)


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(*row)


class SQLiteSessionRegistry:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def create(self, record: SessionRecord) -> None:
        await self.db.change(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.sid,
                normalize_email(record.user),
                record.chain,
                record.site,
                record.ip,
                record.user_agent,
                record.created_at,
                record.last_seen_at,
                record.via,
                record.ended_at,
                record.end_reason,
                record.expires_at,
                record.app_ref,
                record.country,
                record.device,
            ),
        )

    async def get(self, sid: str) -> SessionRecord | None:
        row = await self.db.read_one(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE sid = ?", (sid,))
        return _session(row) if row else None

    async def find_by_app_ref(self, ref: str) -> SessionRecord | None:
        # Ended first (ended_at IS NULL is 0 for them), then the newest.
        row = await self.db.read_one(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE app_ref = ?"
            " ORDER BY ended_at IS NULL, created_at DESC, sid DESC LIMIT 1",
            (ref,),
        )
        return _session(row) if row else None

    async def touch(self, sid: str, when: float) -> None:
        await self.db.change("UPDATE sessions SET last_seen_at = ? WHERE sid = ?", (when, sid))

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        changed = await self.db.change(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE sid = ? AND ended_at IS NULL", (when, reason, sid)
        )
        return changed > 0

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        sql = "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE user = ? AND ended_at IS NULL"
        params: list[Any] = [when, reason, normalize_email(user)]
        if chain is not None:
            sql += " AND chain = ?"
            params.append(chain)
        if created_before is not None:
            sql += " AND created_at <= ?"
            params.append(created_before)
        return await self.db.change(sql, tuple(params))

    async def end_chain_except(self, chain: str, keep_sid: str, *, reason: str, when: float) -> int:
        return await self.db.change(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE chain = ? AND sid != ? AND ended_at IS NULL",
            (when, reason, chain, keep_sid),
        )

    async def expire(self, now: float) -> int:
        return await self.db.change(
            "UPDATE sessions SET ended_at = expires_at, end_reason = ? WHERE ended_at IS NULL AND expires_at < ?",
            (EXPIRED, now),
        )

    async def purge(self, ended_before: float) -> int:
        return await self.db.change("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?", (ended_before,))

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE 1 = 1"
        params: list[Any] = []
        if user:
            sql += " AND user = ?"
            params.append(normalize_email(user))
        if not include_ended:
            sql += " AND ended_at IS NULL"
        sql += " ORDER BY created_at DESC, sid DESC LIMIT ?"
        params.append(limit)
        return [_session(row) for row in await self.db.fetchall(sql, tuple(params))]

    # -- governance ------------------------------------------------------------------------

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        sql = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE 1 = 1"
        params: list[Any] = []
        if user:
            sql += " AND user = ?"
            params.append(normalize_email(user))
        if ip:
            sql += " AND ip = ?"
            params.append(ip)
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(since)
        if active:
            sql += " AND ended_at IS NULL"
        sql += " ORDER BY created_at DESC, sid DESC LIMIT ?"
        params.append(limit)
        return [_session(row) for row in await self.db.fetchall(sql, tuple(params))]

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        start = after or (float("-inf"), "")
        rows = await self.db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE ended_at IS NULL AND last_seen_at < ?"
            " AND (last_seen_at, sid) > (?, ?) ORDER BY last_seen_at, sid LIMIT ?",
            (seen_before, *start, limit),
        )
        return [_session(row) for row in rows]

    async def erase_user(self, user: str) -> int:
        return await self.db.change("DELETE FROM sessions WHERE user = ?", (normalize_email(user),))

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        # Per-day figures from the daily counts (a few hundred rows); the active sessions
        # and users from the partial index of active sessions.
        counts = "SELECT day, kind, key, n FROM session_counts WHERE day >= ? AND day < ?"
        not_blocked = "(end_reason IS NULL OR substr(end_reason, 1, 7) != 'blocked')"
        active = (
            "SELECT COUNT(*), COUNT(DISTINCT user) FROM (SELECT user FROM sessions INDEXED BY sessions_active"
            " WHERE ended_at IS NULL AND created_at < ? AND (expires_at IS NULL OR expires_at >= ?)"
            " UNION ALL SELECT user FROM sessions WHERE ended_at IS NOT NULL AND ended_at >= ? AND created_at < ?"
            f" AND (expires_at IS NULL OR expires_at >= ?) AND {not_blocked})"
        )

        def run(c: sqlite3.Connection) -> SessionStats:
            builder = StatsBuilder(since, until, top)
            first, last = int(builder.since // DAY), int(builder.day_until // DAY)
            for number, kind, key, n in c.execute(counts, (first, last)):
                at = number * DAY
                if kind == "via":
                    builder.counted_start(key, at, n)
                elif kind == "blocked":
                    builder.started("", BLOCKED, "", "", at, n)
                elif kind == "device":
                    builder.devices[key] += n
                elif kind == "country":
                    builder.countries[key] += n
                elif kind == "end":
                    builder.ended(key, at, n)
            builder.active_sessions, builder.active_user_count = c.execute(
                active, (until, until, until, until, until)
            ).fetchone()
            return builder.build()

        return await self.db.run(run)


class SQLiteReplayCache:
    _PURGE_EVERY = 500

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self._uses = 0

    async def use(self, jti: bytes, expires_at: float) -> bool:
        now = time.time()
        self._uses += 1
        if self._uses % self._PURGE_EVERY == 0:
            await self.purge(now)
        # Insert, or take over a record that expired: one statement, so exactly one
        # of several concurrent users (connections, processes) wins.
        changed = await self.db.change(
            "INSERT INTO used_ids (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE"
            " SET expires_at = excluded.expires_at WHERE used_ids.expires_at < ?",
            (jti, expires_at, now),
        )
        return changed > 0

    async def seen(self, jti: bytes) -> bool:
        row = await self.db.read_one("SELECT expires_at FROM used_ids WHERE jti = ?", (jti,))
        return row is not None and row[0] >= time.time()

    async def purge(self, now: float) -> int:
        return await self.db.change("DELETE FROM used_ids WHERE expires_at < ?", (now,))


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    values = list(row)
    values[5] = json.loads(values[5])
    values[9] = MessageStatus(values[9])
    return OutboxMessage(*values)


def _claim(c: sqlite3.Connection, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
    claimed = []
    for message_id in dict.fromkeys(ids):
        # The conditional UPDATE is the lease: only one claimer's succeeds.
        row = c.execute(
            f"UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'"
            f" AND next_attempt_at <= ? RETURNING {_OUTBOX_COLUMNS}",
            (now + lease, message_id, now),
        ).fetchone()
        if row is not None:
            claimed.append(_message(row))
    return claimed


class SQLiteOutbox:
    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db

    async def add(self, messages: list[OutboxMessage]) -> None:
        rows = [
            (
                m.id,
                m.network,
                m.peer,
                m.url,
                m.kind,
                json.dumps(m.payload),
                m.created_at,
                m.next_attempt_at,
                m.attempts,
                m.status.value,
                m.last_error,
                m.delivered_at,
                m.finished_at if m.finished_at is not None or m.status is MessageStatus.PENDING else finish_time(m),
            )
            for m in messages
        ]
        await self.db.transaction(
            lambda c: c.executemany(
                f"INSERT INTO outbox ({_OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
        )

    async def get(self, message_id: str) -> OutboxMessage | None:
        row = await self.db.fetchone(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (message_id,))
        return _message(row) if row else None

    async def claim_due(self, now: float, lease: float, limit: int = 100) -> list[OutboxMessage]:
        def claim_due(c: sqlite3.Connection) -> list[OutboxMessage]:
            rows = c.execute(
                "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            return _claim(c, [r[0] for r in rows], now, lease)

        return await self.db.transaction(claim_due)

    async def claim(self, ids: list[str], now: float, lease: float) -> list[OutboxMessage]:
        return await self.db.transaction(lambda c: _claim(c, ids, now, lease))

    async def delivered(self, message_id: str, when: float) -> None:
        await self.db.change(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, finished_at = ?, attempts = attempts + 1"
            " WHERE id = ? AND status != 'delivered'",
            (when, when, message_id),
        )

    async def failed(self, message_id: str, *, error: str, next_attempt_at: float, abandon: bool = False) -> None:
        await self.db.change(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, status = ?,"
            " finished_at = ? WHERE id = ? AND status = 'pending'",
            (
                error,
                next_attempt_at,
                "abandoned" if abandon else "pending",
                time.time() if abandon else None,
                message_id,
            ),
        )

    async def retry_now(self, peer: str, now: float) -> int:
        return await self.db.change(
            "UPDATE outbox SET next_attempt_at = ? WHERE peer = ? AND status = 'pending' AND next_attempt_at > ?",
            (now, peer, now),
        )

    async def drop(self, ids: list[str]) -> int:
        now = time.time()
        return await self.db.transaction(
            lambda c: sum(
                c.execute(
                    "UPDATE outbox SET status = 'abandoned', last_error = ?, finished_at = ?"
                    " WHERE id = ? AND status = 'pending'",
                    (DROPPED_BY_OPERATOR, now, message_id),
                ).rowcount
                for message_id in dict.fromkeys(ids)
            )
        )

    async def pending(self) -> list[OutboxMessage]:
        rows = await self.db.fetchall(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY created_at, id"
        )
        return [_message(r) for r in rows]

    async def purge(self, finished_before: float) -> int:
        return await self.db.change(
            "DELETE FROM outbox WHERE status != 'pending' AND finished_at < ?", (finished_before,)
        )


def sqlite_stores(
    path: str | Path, *, create: bool = True, variable: str = "SESSIONSYNC_STORE", busy_timeout: float = 10.0
) -> Stores:
    """Stores in the SQLite file at ``path`` (``":memory:"`` for a private in-memory one).

    The file and its directory are made when missing (file mode 0600) unless
    ``create`` is false: then a missing file is a :class:`StoreError` that names the
    path looked for. A path that cannot hold the file is a :class:`ConfigError` naming
    ``variable``. A write waits up to ``busy_timeout`` seconds for another process's lock.
    """
    db = SQLiteDatabase(path, create=create, variable=variable, busy_timeout=busy_timeout)
    return Stores(
        users=SQLiteUserStore(db),
        sessions=SQLiteSessionRegistry(db),
        replay=SQLiteReplayCache(db),
        outbox=SQLiteOutbox(db),
        closer=db,
    )
