"""Which backend a ``SESSIONSYNC_STORE`` URL names: one table, scheme → opener and checker.

Settings validation (:func:`check_store_url`) and start-up (:func:`open_stores`) read
the same table, so ``config check`` accepts exactly the URLs that start.

- ``memory://``: in-process; nothing survives a restart (tests, development).
- ``sqlite:///relative/path`` (to the working directory), ``sqlite:////absolute/path``
  or ``sqlite:///:memory:``, as SQLAlchemy spells them.
- ``redis://…`` and ``rediss://…`` (TLS): see :mod:`.redis`; needs
  ``pip install 'asgi-sessionsync[redis]'``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.stores.base import Stores
from asgi_sessionsync.stores.memory import memory_stores
from asgi_sessionsync.stores.sqlite import check_sqlite_path, sqlite_path, sqlite_stores
from asgi_sessionsync.urls import redact as redact  # its home is urls.py; importable here as before

VARIABLE = "SESSIONSYNC_STORE"
_KNOWN = "memory://, sqlite:///PATH or redis://HOST[:PORT][/DB]"


@dataclass(frozen=True)
class Backend:
    """``check(url, variable)`` raises :class:`ConfigError` without touching anything;
    ``open(url, create)`` makes the stores (``create=False``: never create storage)."""

    check: Callable[[str, str], None]
    open: Callable[[str, bool], Stores]


def _check_memory(url: str, variable: str) -> None:
    if url != "memory://":
        raise ConfigError(variable, "the memory store takes no host, path or options", f"{variable}=memory://")


def _check_sqlite(url: str, variable: str) -> None:
    check_sqlite_path(sqlite_path(url, variable), variable)


def _check_redis(url: str, variable: str) -> None:
    if importlib.util.find_spec("redis") is None:
        raise ConfigError(
            variable,
            "the Redis store needs redis-py, which is not installed: pip install 'asgi-sessionsync[redis]'",
            f"{variable}=redis://localhost:6379/0",
        )
    from asgi_sessionsync.stores.redis import check_redis_url

    check_redis_url(url, variable)


def _open_redis(url: str, create: bool) -> Stores:
    # Imported only here: redis-py is an optional dependency.
    from asgi_sessionsync.stores.redis import open_redis_url

    return open_redis_url(url)


BACKENDS: dict[str, Backend] = {
    "memory": Backend(_check_memory, lambda url, create: memory_stores()),
    "sqlite": Backend(_check_sqlite, lambda url, create: sqlite_stores(sqlite_path(url), create=create)),
    "redis": Backend(_check_redis, _open_redis),
    "rediss": Backend(_check_redis, _open_redis),
}


def _backend(url: str, variable: str) -> Backend:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    backend = BACKENDS.get(scheme)
    if backend is None:
        raise ConfigError(
            variable,
            f"{redact(url)!r} is not a store location (use {_KNOWN})",
            f"{variable}=sqlite:///sessionsync.sqlite3",
        )
    return backend


def check_store_url(url: str, *, variable: str = VARIABLE) -> None:
    """Raise :class:`ConfigError` naming ``variable`` unless ``url`` names a store this
    installation can open. Creates nothing and connects to nothing."""
    _backend(url, variable).check(url, variable)


def open_stores(url: str, *, create: bool = True) -> Stores:
    """The stores ``url`` names (see the table above).

    ``create=False`` is for read-only commands: storage that does not exist yet is a
    :class:`StoreError` naming what was looked for, instead of an empty new store.
    A bad URL is a :class:`ConfigError` naming ``SESSIONSYNC_STORE``.
    """
    backend = _backend(url, VARIABLE)
    backend.check(url, VARIABLE)
    return backend.open(url, create)
