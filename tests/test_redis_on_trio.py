"""The Redis store needs asyncio (redis-py's client): on trio, start-up says so plainly."""

from __future__ import annotations

import pytest

from asgi_sessionsync import ConfigError, SessionSyncMiddleware
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.testing_apps import login_app


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


async def test_the_redis_store_refuses_to_start_on_trio_with_a_clear_reason() -> None:
    app = SessionSyncMiddleware(
        login_app("a", {}),
        site_url="https://a.example",
        secret_keys=[generate_secret()],
        store="redis://127.0.0.1:1/0",
        env_file=None,
    )
    with pytest.raises(ConfigError, match="runs on asyncio only") as caught:
        await app.worker.ensure_started()
    assert caught.value.variable == "SESSIONSYNC_STORE"
    # Nothing was opened (the Redis client connects on first use), so nothing to close;
    # closing redis-py's client would itself need asyncio.
