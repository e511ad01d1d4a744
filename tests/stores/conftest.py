"""Fixtures: every backend as a :class:`Backend` that opens ``Stores`` on one storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from asgi_sessionsync.stores import Stores, new_id, open_stores
from tests.stores.redis_server import redis_server  # noqa: F401 - a fixture

REDIS_ONLY_ASYNCIO = pytest.mark.asyncio_only("redis-py's asyncio client runs on asyncio only")
BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=REDIS_ONLY_ASYNCIO)]


@dataclass
class Backend:
    """One backend's storage. ``open()`` gives a ``Stores`` on it; for a shared backend
    (a file, a server) every call is another independent client of the same data, as
    another worker process would be."""

    name: str
    location: str  # a SESSIONSYNC_STORE URL
    shared: bool
    # Backends that delete expired replay ids by themselves report 0 from replay.purge.
    replay_expires_by_itself: bool = False
    opened: list[Stores] = field(default_factory=list)

    def open(self) -> Stores:
        stores = open_stores(self.location)
        self.opened.append(stores)
        return stores

    async def close(self) -> None:
        for stores in self.opened:
            await stores.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        opened = Backend("memory", "memory://", shared=False)
    elif request.param == "sqlite":
        opened = Backend("sqlite", f"sqlite:///{tmp_path / 'stores.sqlite3'}", shared=True)
    else:
        # One server for the session; a prefix of its own keeps each test's data apart.
        server = request.getfixturevalue("redis_server")
        prefix = "test-" + new_id().replace("-", "").replace("_", "")[:12]
        opened = Backend("redis", f"{server}?prefix={prefix}", shared=True, replay_expires_by_itself=True)
    yield opened
    await opened.close()


@pytest.fixture
def stores(backend: Backend) -> Stores:
    return backend.open()
