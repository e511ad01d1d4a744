"""Every response shape a sign-in can come back in (issue #10): an HTML fragment (htmx,
Turbo), a ``fetch()`` login answered with a redirect, and caches told what varies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync import sign_in
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app

CAROL = "carol@example.com"
FETCH = {"sec-fetch-mode": "cors", "sec-fetch-dest": "empty", "sec-fetch-site": "same-origin"}


def api_site() -> Starlette:
    """A site that signs in by fragments and by fetch()."""

    async def fragment(request: Request) -> Response:
        sign_in(request, CAROL)
        return HTMLResponse('<div id="who">Signed in as carol</div>')  # no </body>: an htmx swap

    async def fetch_login(request: Request) -> Response:
        sign_in(request, CAROL)
        return RedirectResponse("/", status_code=303)

    async def home(request: Request) -> Response:
        who = request.user.email if request.user.is_authenticated else None
        body = f"<h1>Signed in as {who}</h1>" if who else "<h1>Not signed in</h1>"
        return HTMLResponse(f"<html><body>{body}</body></html>")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/fragment", fragment, methods=["POST"]),
            Route("/fetch-login", fetch_login, methods=["POST"]),
        ]
    )


@pytest.fixture
async def net() -> AsyncIterator[SiteNetwork]:
    async with SiteNetwork({"a": api_site(), "b": login_app("b", {})}, settings={"catchup": False}) as network:
        yield network


async def test_a_sign_in_answered_with_an_html_fragment_syncs_at_the_next_navigation(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.get(f"{net.urls['a']}/")
    response = await browser.client.post(f"{net.urls['a']}/fragment", headers=FETCH)
    assert response.text == '<div id="who">Signed in as carol</div>'  # nothing injected into a fragment
    assert "sessionsync-sync=" in response.headers.get("set-cookie", "")
    landed = await browser.get(f"{net.urls['a']}/")
    assert net.urls["b"] in [f"{u.scheme}://{u.host}" for u in (r.url for r in landed.history)]
    assert await browser.who("b") == CAROL


async def test_a_fetch_login_answered_with_a_redirect_is_not_rewritten_and_syncs_at_the_next_navigation(
    net: SiteNetwork,
) -> None:
    browser = net.browser()
    response = await browser.client.post(f"{net.urls['a']}/fetch-login", headers=FETCH, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"  # fetch() follows it: keep it here
    assert "sessionsync-sync=" in response.headers.get("set-cookie", "")
    assert await net.sites["b"].site.stores.sessions.list(user=CAROL, include_ended=True) == []  # no orphan
    await browser.get(f"{net.urls['a']}/")
    assert await browser.who("b") == CAROL


async def test_responses_to_a_signed_in_request_vary_by_cookie(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.client.post(f"{net.urls['a']}/fragment", headers=FETCH)
    signed_in = await browser.get(f"{net.urls['a']}/")
    assert "Signed in as carol" in signed_in.text
    assert "cookie" in signed_in.headers.get("vary", "").lower()
