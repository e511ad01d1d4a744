"""The starlette-session adapter with apps that keep something else than an email under
their session key: sqladmin's layout, ``request.session["token"]`` (issue #10)."""

from __future__ import annotations

import logging
import secrets
from typing import Any, Literal

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity
from tests.frameworks.harness import ALICE, FRANK, join
from tests.frameworks.pages import USERS, home, login_form

SECRET = "token-app-session-secret"


class TokenApp:
    """An app that logs in the way sqladmin's authentication backends do: a random token
    in ``request.session["token"]``, looked up in the app's own table."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # token -> email

    def app(self) -> Starlette:
        async def index(request: Request) -> Response:
            return HTMLResponse(home(self.tokens.get(request.session.get("token", ""))))

        async def login(request: Request) -> Response:
            if request.method == "GET":
                return HTMLResponse(login_form())
            form = await request.form()
            email = str(form.get("email", ""))
            if USERS.get(email) != form.get("password"):
                return HTMLResponse(login_form("Wrong email or password."), status_code=401)
            token = secrets.token_urlsafe(16)
            self.tokens[token] = email
            request.session.update({"token": token})
            return RedirectResponse("/", status_code=303)

        async def logout(request: Request) -> Response:
            self.tokens.pop(request.session.get("token", ""), None)
            request.session.clear()
            return RedirectResponse("/", status_code=303)

        return Starlette(
            routes=[
                Route("/", index),
                Route("/login", login, methods=["GET", "POST"]),
                Route("/logout", logout, methods=["POST"]),
            ],
            middleware=[Middleware(SessionMiddleware, secret_key=SECRET)],
        )

    async def to_email(self, token: Any) -> str | None:
        return self.tokens.get(token) if isinstance(token, str) else None

    async def from_email(self, email: str) -> str | None:
        token = secrets.token_urlsafe(16)
        self.tokens[token] = email
        return token


async def test_a_session_value_that_is_not_an_email_is_never_synced_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_app = TokenApp()
    identity = StarletteSessionIdentity(SECRET, user_key="token")
    net = await join(token_app.app(), identity=identity)
    with caplog.at_level(logging.WARNING, logger="asgi_sessionsync"):
        for _ in range(2):
            browser = net.browser()
            await browser.sign_in("f", *FRANK)
            assert await browser.who("f") == FRANK[0]
            assert await browser.who("a") is None and await browser.who("c") is None
    for name in ("a", "c", "f"):  # no account made from a token, anywhere
        users = net.apps[name].site.stores.users
        for token in token_app.tokens:
            assert await users.get(token) is None
        assert await net.apps[name].site.stores.sessions.list() == []
    said = [r for r in caplog.records if "not an email" in r.getMessage()]
    assert len(said) == 1
    assert all(token not in r.getMessage() for r in caplog.records for token in token_app.tokens)
    await net.close()


async def test_an_app_that_stores_a_token_syncs_with_to_email_and_from_email() -> None:
    token_app = TokenApp()
    identity = StarletteSessionIdentity(
        SECRET, user_key="token", to_email=token_app.to_email, from_email=token_app.from_email
    )
    net = await join(token_app.app(), identity=identity)
    browser = net.browser()
    await browser.sign_in("f", *FRANK)
    assert await browser.everyone() == {"a": FRANK[0], "c": FRANK[0], "f": FRANK[0]}
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "c": None, "f": None}

    other = net.browser()
    await other.sign_in("a", *ALICE)
    assert await other.who("f") == ALICE[0]  # a token the app made for alice
    assert ALICE[0] in token_app.tokens.values()
    await net.close()


def test_to_email_and_from_email_come_together() -> None:
    token_app = TokenApp()
    with pytest.raises(ValueError, match="from_email"):
        StarletteSessionIdentity(SECRET, to_email=token_app.to_email)


def plain_session_app(same_site: Literal["lax", "strict", "none"]) -> Starlette:
    """A ``request.session`` login whose cookie has the given ``SameSite``."""

    async def index(request: Request) -> Response:
        return HTMLResponse(home(request.session.get("user")))

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return Starlette(
        routes=[Route("/", index), Route("/logout", logout, methods=["POST"])],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET, same_site=same_site)],
    )


@pytest.mark.parametrize("catchup", [True, False])
async def test_with_our_cookie_strict_a_cross_site_link_never_ends_a_live_app_login(catchup: bool) -> None:
    """The app's cookie (Lax) comes alone on a link from another site when ours is Strict.
    Its reference names the user, and an earlier session of the user ended: that must not
    end today's login (nothing is concluded from a cross-site request), yet must not let a
    replayed dead cookie through either."""
    from asgi_sessionsync.testing import SiteNetwork
    from asgi_sessionsync.testing_apps import login_app

    settings = {
        "identity": "starlette-session",
        "app_session_secret": SECRET,
        "cookie_samesite": "strict",
        "catchup": catchup,  # off: the link's own answer is C's page, not a round trip
    }
    async with SiteNetwork(
        {"a": login_app("a", dict([ALICE])), "c": plain_session_app("lax")}, site_settings={"c": settings}
    ) as net:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        dead = browser.cookies.get("session", "c.example")
        await browser.sign_out("a")  # that session of alice's ended on c
        await browser.sign_in("a", *ALICE)
        assert await browser.everyone() == {"a": ALICE[0], "c": ALICE[0]}

        page_on_a = await browser.get(f"{net.urls['a']}/")
        await browser.get(f"{net.urls['c']}/", from_page=page_on_a)  # a link from A to C
        assert await browser.who("c") == ALICE[0]  # C typed again: still signed in

        thief = net.browser()  # the cookie of the ended session, sent as from another site
        assert dead is not None
        thief.cookies.set("session", dead, domain="c.example", secure=True)
        page = await thief.get(f"{net.urls['c']}/", headers={"sec-fetch-site": "cross-site"})
        assert "Not signed in" in page.text

        await browser.sign_out("a")
        assert await browser.everyone() == {"a": None, "c": None}
