"""ASGI lifespan, on asyncio and trio: start-up starts the outbox worker before the app
starts; once the app has shut down, the worker stops and what was opened (stores, the
HTTP client for peers) is closed; a second start-up opens again, or fails saying why."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.stores import Stores, User, memory_stores, sqlite_stores
from asgi_sessionsync.testing_apps import login_app

SITE = "https://a.example"
PEER = Peer("https://b.example", "http://b.internal")
CAROL = User("carol@example.com", "member")


def peer(request: httpx.Request) -> httpx.Response:
    """Site B: answers its ping and takes every back-channel message."""
    return httpx.Response(204 if request.url.path.endswith("/ping") else 200)


def middleware(app: ASGIApp, *, stores: Stores | None = None, store: str = "memory://") -> SessionSyncMiddleware:
    settings = Settings.from_env(
        {}, env_file=None, site_url=SITE, secret_keys=[generate_secret()], peers=[PEER], store=store
    )
    return SessionSyncMiddleware(app, settings, stores=stores, transport=httpx.MockTransport(peer))


@dataclass
class Started:
    """The app's answer to ``lifespan.startup``; ``None`` when it ended without one
    (a server then serves without lifespan), with the error it raised."""

    answer: Message | None
    error: Exception | None = None


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[Started]:
    """The server's side of ASGI lifespan, as uvicorn and Hypercorn play it: start-up,
    serve (the body), shutdown. Unlike asgi-lifespan's manager it reports
    ``lifespan.startup.failed`` and an app without lifespan support instead of raising."""
    to_app, inbox = anyio.create_memory_object_stream[Message](1)
    outbox, from_app = anyio.create_memory_object_stream[Message](1)
    started = Started(None)

    async def run() -> None:
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        async with outbox:
            try:
                await app(scope, inbox.receive, outbox.send)
            except Exception as error:
                started.error = error

    async with anyio.create_task_group() as group, to_app, from_app:
        group.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        with contextlib.suppress(anyio.EndOfStream):
            started.answer = await from_app.receive()
        yield started
        if started.answer is not None and started.answer["type"] == "lifespan.startup.complete":
            await to_app.send({"type": "lifespan.shutdown"})
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


def test_building_a_middleware_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []

    def client(*args: object, **kwargs: object) -> None:
        made.append(args)

    monkeypatch.setattr(httpx, "AsyncClient", client)
    site = middleware(login_app("a"))
    assert made == [] and not site.worker.started and not site.site.courier.running


def telling(site: SessionSyncMiddleware, told: list[tuple[str, bool, bool]]) -> ASGIApp:
    """``site``, noting for each lifespan message it sends the server whether the
    worker runs and whether the site is closed at that moment."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            told.append((message["type"], site.site.courier.running, site.site.closed))
            await send(message)

        await site(scope, receive, noting)

    return app


async def test_startup_runs_the_worker_and_shutdown_closes_the_stores_and_the_http_client(tmp_path: Path) -> None:
    site = middleware(login_app("a"), store=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    assert not site.worker.started and not site.site.courier.running
    told: list[tuple[str, bool, bool]] = []
    async with LifespanManager(telling(site, told)):
        assert site.worker.started and site.site.courier.running  # before the app starts
        client = site.site.client.http  # the back-channel client, made on first use
        await site.site.stores.users.create(CAROL)
    assert not site.worker.started and not site.site.courier.running
    # The worker had ended and the site was closed before the server heard of it.
    assert told == [("lifespan.startup.complete", True, False), ("lifespan.shutdown.complete", False, True)]
    assert client.is_closed
    with pytest.raises(StoreError, match="closed"):
        await site.site.stores.users.get(CAROL.email)


async def test_the_apps_own_shutdown_still_has_the_stores(tmp_path: Path) -> None:
    seen: list[User | None] = []

    @contextlib.asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        seen.append(await site.site.stores.users.get(CAROL.email))  # the app's own shutdown work

    site = middleware(Starlette(lifespan=app_lifespan), store=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    async with LifespanManager(site):
        await site.site.stores.users.create(CAROL)
    assert [user.email if user else None for user in seen] == [CAROL.email]
    assert site.site.closed


async def test_a_second_startup_opens_the_stores_from_the_settings_again(tmp_path: Path) -> None:
    site = middleware(login_app("a"), store=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    async with LifespanManager(site):
        await site.site.stores.users.create(CAROL)
        first = site.site.client.http
    async with LifespanManager(site):
        assert site.site.courier.running
        assert await site.site.stores.users.get(CAROL.email) is not None  # the same file
        assert site.site.client.http is not first and not site.site.client.http.is_closed
        second = site.site.client.http
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site), base_url=SITE) as browser:
            assert (await browser.get("/login")).status_code == 200
    assert first.is_closed and second.is_closed


async def test_a_second_startup_with_given_stores_it_closed_fails_saying_why(tmp_path: Path) -> None:
    site = middleware(login_app("a"), stores=sqlite_stores(tmp_path / "a.sqlite3"))
    async with lifespan(site) as started:
        assert started.answer == {"type": "lifespan.startup.complete"}
    async with lifespan(site) as started:
        assert started.answer is not None and started.answer["type"] == "lifespan.startup.failed"
        assert "stores given to SessionSyncMiddleware(stores=...) were closed" in started.answer["message"]
        assert started.error is None  # refused cleanly: the server exits on startup.failed
        assert not site.worker.started and not site.site.courier.running


async def test_given_stores_with_nothing_to_close_carry_on_after_a_restart() -> None:
    site = middleware(login_app("a"), stores=memory_stores())
    async with LifespanManager(site):
        await site.site.stores.users.create(CAROL)
    async with LifespanManager(site):
        assert site.site.courier.running
        assert await site.site.stores.users.get(CAROL.email) is not None


async def test_an_app_that_fails_to_start_leaves_nothing_open(tmp_path: Path) -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("the app's database is down")
        yield

    site = middleware(Starlette(lifespan=broken), store=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    async with lifespan(site) as started:
        assert started.answer is not None and started.answer["type"] == "lifespan.startup.failed"
        assert "the app's database is down" in started.answer["message"]
    assert isinstance(started.error, RuntimeError)
    assert not site.worker.started and not site.site.courier.running
    assert site.site.closed
    with pytest.raises(StoreError, match="closed"):
        await site.site.stores.users.get(CAROL.email)


async def test_without_lifespan_support_the_first_request_starts_the_worker_on_asyncio_or_says_it_cannot(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"  # no lifespan: the usual way of saying so
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    site = middleware(http_only)
    async with lifespan(site) as started:
        assert started.answer is None and isinstance(started.error, AssertionError)
    assert not site.worker.started
    with caplog.at_level(logging.WARNING, logger="asgi_sessionsync"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site), base_url=SITE) as client:
            assert (await client.get("/_sessionsync/ping")).status_code == 204
            await anyio.sleep(0.01)  # the background task starts
    assert site.worker.started
    try:
        if anyio_backend == "asyncio":
            assert site.site.courier.running
            assert "no ASGI lifespan" not in caplog.text
        else:
            assert not site.site.courier.running
            assert "no ASGI lifespan: the outbox worker is not running" in caplog.text
    finally:
        await site.aclose()
    assert not site.site.courier.running


async def test_a_second_startup_still_ends_the_apps_own_login_with_its_session(tmp_path: Path) -> None:
    """An app that keeps a login of its own (Starlette's request.session): after the
    stores are opened again at a second start-up, ending a session here still ends the
    app's login that goes with it (the hook is not lost with the rebuilt parts)."""
    from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity
    from asgi_sessionsync.testing_apps import session_login_app

    secret = "app-secret-" + generate_secret()
    app = session_login_app("a", secret_key=secret)
    settings = Settings.from_env(
        {},
        env_file=None,
        site_url=SITE,
        secret_keys=[generate_secret()],
        peers=[PEER],
        store=f"sqlite:///{tmp_path / 'a.sqlite3'}",
    )
    identity = StarletteSessionIdentity(secret)
    site = SessionSyncMiddleware(app, settings, identity=identity, transport=httpx.MockTransport(peer))
    async with LifespanManager(site):
        assert site.site.endings.end_app_login is not None
    async with LifespanManager(site):
        assert site.site.endings.end_app_login == identity.end_app_login
