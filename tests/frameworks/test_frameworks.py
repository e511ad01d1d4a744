"""Each framework's own login, wrapped unchanged, shares login with the demo's sites."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.frameworks.harness import ALICE, FRANK, HOP_SCOPE, FrameworkNetwork, join
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


async def test_an_app_login_replayed_alone_after_a_sign_out_elsewhere_signs_nobody_in(net: FrameworkNetwork) -> None:
    """Issue #9: the app's own cookie of a session that ended (here Frank signed out on
    another site) must not open the site again when it comes without the middleware's."""
    browser = net.browser()
    await browser.sign_in("f", *FRANK)
    await browser.get(f"{net.urls['f']}/")  # an app may sign its cookie again on every answer
    app_cookies = [(c.name, c.value) for c in browser.cookies if c.domain == "f.example" and "sync" not in c.name]
    assert app_cookies
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "c": None, "f": None}

    thief = net.browser()
    for name, value in app_cookies:
        thief.cookies.set(name, value, domain="f.example", secure=True)
    assert await thief.who("f") is None
    records = await net.apps["f"].site.stores.sessions.list(user=FRANK[0], include_ended=True)
    assert records and all(r.via != "adopted from the app's own login" for r in records)


@pytest.mark.parametrize(
    "framework",
    [
        "fastapi",
        pytest.param("quart", marks=pytest.mark.asyncio_only(QUART_ON_ASYNCIO)),
        "litestar",
        pytest.param("django", marks=pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)),
    ],
)
async def test_a_peer_sign_in_changes_only_the_login_in_the_apps_own_session(framework: str) -> None:
    """Issue #10: an anonymous visitor's cart survives a sign-in a peer makes here."""
    net = await FRAMEWORKS[framework]()
    browser = net.browser()
    assert (await browser.get(f"{net.urls['f']}/cart", params={"add": "teapot"})).text == "cart: teapot; user: nobody"
    await browser.sign_in("a", *ALICE)
    assert (await browser.get(f"{net.urls['f']}/cart")).text == f"cart: teapot; user: {ALICE[0]}"
    await net.close()


@pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)
async def test_django_login_made_without_the_middleware_is_adopted_but_not_synced() -> None:
    from asgi_sessionsync.identity import Account
    from asgi_sessionsync.identity.django import DjangoIdentity

    net = await django_network()
    identity = net.apps["f"].identity
    assert isinstance(identity, DjangoIdentity)
    made = await identity.login_cookies(dict(HOP_SCOPE), Account(FRANK[0]))
    assert made is not None
    cookie = made[0].decode()
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
