"""A real, throwaway ``redis-server`` for tests, from the repository's harness
(:mod:`tests.harness.redis_server`), plus what pytest needs around it.

``require_redis_server()`` skips a test on a developer machine without the binary and
fails it in CI (``CI=true``), where it must be installed (Debian: ``apt-get install
redis-server``); ``redis_server`` is the session-wide fixture, ``controlled_redis_server``
a server of one test's own that it may kill, pause and start again. Import either from other
test folders: ``from tests.stores.redis_server import redis_server``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.processes import free_ports
from tests.harness.redis_server import RedisServer, redis_binary
from tests.harness.redis_server import start_redis_server as _start
from tests.requirements import skip_or_fail


def require_redis_server() -> str:
    """The redis-server binary; skip without it, or fail when CI=true."""
    binary = redis_binary()
    if binary is not None:
        return binary
    message = "redis-server is not installed: apt-get install redis-server (the Redis store tests need a real one)"
    skip_or_fail(message)


@contextlib.contextmanager
def start_redis_server(directory: Path, *, binary: str | None = None) -> Iterator[str]:
    """The kit's server, after :func:`require_redis_server` (skip or fail without one)."""
    with _start(directory, binary=binary or require_redis_server()) as url:
        yield url


@contextlib.contextmanager
def controlled_redis_server(directory: Path, *, persistent: bool = False) -> Iterator[RedisServer]:
    """A started :class:`RedisServer` (kill, pause, start again) on a free port, after
    :func:`require_redis_server`; stopped on exit."""
    server = RedisServer(directory, free_ports(1)[0], binary=require_redis_server(), persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a redis-server that lives as long as the test session."""
    with start_redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
