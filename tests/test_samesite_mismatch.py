"""A weakness found by the attack tests, fixed: a SameSite mismatch between the app's
login cookie and ours must not end, adopt or sign out anything.

When the app's own login cookie and the middleware's session cookie have different
``SameSite`` strictness, a browser sends one without the other on a cross-site top-level
navigation, a plain link from any other site. Reconciliation (middleware ``_identify``)
reads the missing cookie as a change: "the app's login ended" ends the synced session
quietly, or "an app login the middleware did not see" adopts it as a local one. Either
way the next visit re-adopts the app login under a chain no peer knows, and a sign-out
elsewhere no longer reaches this site. Frame mode's ``None``/``Lax`` pair is covered
(Lax emulation); these two settings-allowed pairs are not:

- ``SESSIONSYNC_APP_SESSION_SAMESITE=strict`` (app cookie Strict, ours Lax);
- ``SESSIONSYNC_COOKIE_SAMESITE=strict`` (ours Strict, the app's Lax).

No attacker is needed (a link from a peer's own page does it), and an attacker's link
or ``window.open`` does it on purpose. Fixed: on a cross-site request nothing is
concluded from one cookie coming without the other (no end, no adoption), and an app
that answers "nobody" because its cookie stayed home has not signed out.
"""

from __future__ import annotations

import html
import re
from typing import Literal

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE

APP_SECRET = "site-c-own-session-secret"


def session_app(same_site: Literal["lax", "strict"]) -> Starlette:
    """A plain ``request.session`` app whose login cookie has the given ``SameSite``."""

    async def home(request: Request) -> Response:
        user = request.session.get("user")
        heading = f"Signed in as {user}" if user else "Not signed in"
        return HTMLResponse(f'<h1>{heading}</h1><form method="post" action="/logout"></form>')

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return Starlette(
        routes=[Route("/", home), Route("/logout", logout, methods=["POST"])],
        middleware=[Middleware(SessionMiddleware, secret_key=APP_SECRET, same_site=same_site)],
    )


@pytest.mark.parametrize(
    ("app_same_site", "ours"),
    [
        pytest.param("lax", {}, id="both-lax"),  # the control: the same steps, no mismatch
        pytest.param("strict", {}, id="app-cookie-strict"),
        pytest.param("lax", {"cookie_samesite": "strict"}, id="our-cookie-strict"),
    ],
)
async def test_a_cross_site_link_to_a_site_does_not_keep_it_signed_in_after_a_sign_out_elsewhere(
    app_same_site: Literal["lax", "strict"], ours: dict[str, str]
) -> None:
    apps = {"a": login_app("a", dict([ALICE])), "c": session_app(app_same_site)}
    c_settings = {
        "identity": "starlette-session",
        "app_session_secret": APP_SECRET,
        "app_session_samesite": app_same_site,
        **ours,
    }
    async with SiteNetwork(apps, site_settings={"c": c_settings}) as net:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        assert await browser.everyone() == {"a": ALICE[0], "c": ALICE[0]}
        page_on_a = await browser.get(f"{net.urls['a']}/")
        await browser.get(f"{net.urls['c']}/", from_page=page_on_a)  # a link from A (or any site) to C
        assert await browser.who("c") == ALICE[0]  # C opened again, typed: still signed in
        await browser.sign_out("a")
        assert await browser.everyone() == {"a": None, "c": None}  # fails: C stays signed in


def frame_urls(page: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(r'<iframe src="([^"]+)"', page)]


@pytest.mark.parametrize("mode", ["frame", "auto"])
async def test_an_image_of_a_site_whose_app_cookie_is_samesite_none_concludes_nothing(mode: str) -> None:
    """Issue #20, finding 2. In frame and auto mode the middleware's cookie is
    ``SameSite=None`` and Lax is emulated: a cross-site subresource is served as anonymous.
    An app whose own login cookie is ``SameSite=None`` too still sees its login on such a
    request; the middleware read the app's answer as a new sign-in (a local session, whose
    cookie replaced the synced one), and a later sign-out on A left C signed in. Where Lax
    is emulated nothing may be concluded from the app's standing login."""
    apps = {
        "a": login_app("a", dict([ALICE])),
        "c": session_login_app("c", {}, secret_key=APP_SECRET, same_site="none", https_only=True),
    }
    c_settings = {
        "identity": "starlette-session",
        "app_session_secret": APP_SECRET,
        "app_session_samesite": "none",
        "app_session_https_only": True,
    }
    async with SiteNetwork(apps, settings={"sync_mode": mode}, site_settings={"c": c_settings}) as net:
        browser = net.browser()  # third-party cookies allowed: the frames work
        landing = await browser.sign_in("a", *ALICE)
        for url in frame_urls(landing.text):
            await browser.frame(url, from_page=landing)
        assert await browser.everyone() == {"a": ALICE[0], "c": ALICE[0]}
        c_sessions = net.sites["c"].site.stores.sessions
        before = await c_sessions.list(include_ended=True)
        # <img src="https://c.example/"> on another site's page: C's own cookie comes with
        # it, the middleware's does not (emulated Lax).
        image = await browser.subresource(f"{net.urls['c']}/", "image", from_page="https://evil.example/pictures")
        assert "Signed in as alice@example.com" in image.text  # the app sees its own login: its business
        assert await c_sessions.list(include_ended=True) == before  # nothing adopted, nothing signed in
        assert not any(k.lower() == "set-cookie" and "sessionsync" in v for k, v in image.headers.multi_items())
        assert await browser.who("c") == ALICE[0]
        await browser.sign_out("a")
        assert await browser.everyone() == {"a": None, "c": None}
