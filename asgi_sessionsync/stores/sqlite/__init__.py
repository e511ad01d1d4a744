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

Modules: :mod:`~.files` (the ``sqlite:///`` URL and the file), :mod:`~.schema` (tables,
indexes, governance counts, migrations), :mod:`~.database` (the shared connection),
:mod:`~.users`, :mod:`~.sessions` (with :mod:`~.analytics`), :mod:`~.replay`, :mod:`~.outbox`,
:mod:`~.activity`.
Every name is importable from ``asgi_sessionsync.stores.sqlite`` as before.
"""

from __future__ import annotations

from pathlib import Path

from asgi_sessionsync.stores.base import Stores
from asgi_sessionsync.stores.sqlite.activity import SQLiteActivityLog
from asgi_sessionsync.stores.sqlite.database import SQLiteDatabase
from asgi_sessionsync.stores.sqlite.event_counts import SQLiteEventCounts
from asgi_sessionsync.stores.sqlite.files import EXAMPLE, check_sqlite_path, sqlite_path
from asgi_sessionsync.stores.sqlite.outbox import SQLiteOutbox
from asgi_sessionsync.stores.sqlite.replay import SQLiteReplayCache
from asgi_sessionsync.stores.sqlite.sessions import SQLiteSessionRegistry
from asgi_sessionsync.stores.sqlite.users import SQLiteUserStore
from asgi_sessionsync.stores.sqlite.verified import SQLiteVerifiedStore

__all__ = [
    "EXAMPLE",
    "SQLiteActivityLog",
    "SQLiteDatabase",
    "SQLiteEventCounts",
    "SQLiteOutbox",
    "SQLiteReplayCache",
    "SQLiteSessionRegistry",
    "SQLiteUserStore",
    "check_sqlite_path",
    "sqlite_path",
    "sqlite_stores",
]


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
        activity=SQLiteActivityLog(db),
        verified=SQLiteVerifiedStore(db),
        counts=SQLiteEventCounts(db),
        closer=db,
        availability=db.availability,
    )
