"""Each framework's own login, wrapped unchanged, shares login with the demo's sites."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.frameworks.harness import ALICE, FRANK, FrameworkNetwork, join
from tests.frameworks.pages import USERS


async def shared_login_works(net: FrameworkNetwork) -> None:
    """Sign-in sync out, sign-out everywhere, sign-in sync in, sign-out from outside."""
    browser = net.browser()
    await browser.sign_in("f", *FRANK)
    assert await browser.everyone() == {"a": FRANK[0], "c": FRANK[0], "f": FRANK[0]}
    await browser.sign_out("f")
    assert await browser.everyone() == {"a": None, "c": None, "f": None}

    other = net.browser()
    await other.sign_in("a", *ALICE)
    assert await other.everyone() == {"a": ALICE[0], "c": ALICE[0], "f": ALICE[0]}
    await other.sign_out("c")
    assert await other.everyone() == {"a": None, "c": None, "f": None}
    await browser.close()
    await other.close()


async def fastapi_network() -> FrameworkNetwork:
    from tests.frameworks.fastapi_app import SECRET, app

    return await join(app, identity_name="starlette-session", app_session_secret=SECRET)


async def django_network() -> FrameworkNetwork:
    from asgiref.sync import sync_to_async

    from tests.frameworks.django_site import application

    app = await sync_to_async(application)()  # migrations are synchronous work
    return await join(app, identity_name="django")


async def quart_network() -> FrameworkNetwork:
    from asgi_sessionsync.identity.quart import QuartSessionIdentity
    from tests.frameworks.quart_app import app

    return await join(app, identity=QuartSessionIdentity(app))


async def litestar_network() -> FrameworkNetwork:
    from asgi_sessionsync.identity.litestar import LitestarSessionIdentity
    from tests.frameworks.litestar_app import app, session_config

    return await join(app, identity=LitestarSessionIdentity(session_config))


async def starlette_network() -> FrameworkNetwork:
    from asgi_sessionsync.testing_apps import session_login_app

    secret = "starlette-app-session-secret"
    app = session_login_app("f", USERS, {}, secret_key=secret)
    return await join(app, identity_name="starlette-session", app_session_secret=secret)


FRAMEWORKS: dict[str, Callable[[], Any]] = {
    "starlette": starlette_network,
    "litestar": litestar_network,
    "fastapi": fastapi_network,
    "django": django_network,
    "quart": quart_network,
}


# Django's ASGI handler (asgiref) and Quart (its own asyncio server classes) run on
# asyncio only: their runs under trio are skipped. Starlette, FastAPI and Litestar
# (anyio) run on both.
DJANGO_ON_ASYNCIO = "Django's ASGI handler and sync_to_async (asgiref) need an asyncio loop"
QUART_ON_ASYNCIO = "Quart serves requests with asyncio tasks and asyncio.wait"
ASYNCIO_ONLY = {"django": DJANGO_ON_ASYNCIO, "quart": QUART_ON_ASYNCIO}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.asyncio_only(ASYNCIO_ONLY[name])) if name in ASYNCIO_ONLY else name
        for name in sorted(FRAMEWORKS)
    ]
)
async def net(request: pytest.FixtureRequest) -> AsyncIterator[FrameworkNetwork]:
    built = await FRAMEWORKS[request.param]()
    yield built
    await built.close()


async def test_framework_login_is_shared_both_ways_and_sign_out_reaches_everyone(net: FrameworkNetwork) -> None:
    await shared_login_works(net)


@pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)
async def test_django_login_made_without_the_middleware_is_adopted_but_not_synced() -> None:
    from asgi_sessionsync.identity.django import DjangoIdentity
    from asgi_sessionsync.stores import User

    net = await django_network()
    identity = net.apps["f"].identity
    assert isinstance(identity, DjangoIdentity)
    cookie = (await identity.login_cookies(User(FRANK[0], "member")))[0].decode()
    name, value = cookie.split(";", 1)[0].split("=", 1)
    browser = net.browser()
    browser.client.cookies.set(name, value, domain="f.example")
    page = await browser.get(f"{net.urls['f']}/")
    assert "Signed in as frank@example.com" in page.text
    assert "_sessionsync/hop" not in page.text and page.history == []
    (record,) = await net.apps["f"].site.stores.sessions.list(user=FRANK[0])
    assert record.via == "adopted from the app's own login"
    assert await browser.who("a") is None and await browser.who("c") is None
    await browser.close()
    await net.close()
