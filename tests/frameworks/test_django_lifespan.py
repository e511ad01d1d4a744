"""Django does not speak ASGI lifespan (#22, docs/identity.md): uvicorn then says "ASGI
'lifespan' protocol appears unsupported". The outbox worker starts anyway, at the first
request, and the middleware says nothing alarming about it on asyncio."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
from asgiref.sync import sync_to_async

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from tests.frameworks.test_frameworks import DJANGO_ON_ASYNCIO
from tests.test_lifespan import lifespan

pytestmark = pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)


async def test_under_django_the_worker_starts_at_the_first_request(caplog: pytest.LogCaptureFixture) -> None:
    from tests.frameworks.django_site import application

    django_app = await sync_to_async(application)()
    settings = Settings.from_env(
        {},
        env_file=None,
        site_url="https://f.example",
        secret_keys=[generate_secret()],
        peers=["https://a.example"],
        store="memory://",
        identity="django",
    )
    site = SessionSyncMiddleware(django_app, settings)
    async with lifespan(site) as started:
        # Django's answer to lifespan: an error, before it receives anything.
        assert started.answer is None and isinstance(started.error, ValueError)
        assert "lifespan" in str(started.error)
    assert not site.site.courier.running
    try:
        with caplog.at_level(logging.WARNING, logger="asgi_sessionsync"):
            transport = httpx.ASGITransport(app=site)
            async with httpx.AsyncClient(transport=transport, base_url="https://f.example") as client:
                assert (await client.get("/")).status_code == 200
                await anyio.sleep(0.01)
        assert site.site.courier.running  # the worker runs without lifespan
        assert "no ASGI lifespan" not in caplog.text
    finally:
        await site.aclose()
    assert not site.site.courier.running
