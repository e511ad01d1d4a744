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


CACHEABLE = (b"cache-control", b"public, max-age=600")


def cacheable_sign_in_site() -> Starlette:
    """A site whose sign-in answers say they may be cached (an app's blanket header)."""

    async def login_redirect(request: Request) -> Response:
        sign_in(request, CAROL)
        return RedirectResponse("/", status_code=303, headers={"cache-control": "public, max-age=600"})

    async def login_page(request: Request) -> Response:
        sign_in(request, CAROL)
        return HTMLResponse("<html><body><h1>Welcome</h1></body></html>", headers={"Cache-Control": "max-age=600"})

    return Starlette(
        routes=[
            Route("/login-redirect", login_redirect, methods=["POST"]),
            Route("/login-page", login_page, methods=["POST"]),
        ]
    )


def cache_control(response: object) -> list[str]:
    assert hasattr(response, "headers")
    return [v for k, v in response.headers.multi_items() if k.lower() == "cache-control"]


async def test_the_sign_in_redirect_carrying_the_chain_is_never_cached() -> None:
    """Issue #20, finding 4: the app's 303 rewritten to the first peer's pull carries the
    chain token in its Location: ``no-store``, whatever the app said."""
    async with SiteNetwork({"a": cacheable_sign_in_site(), "b": login_app("b", {})}) as net:
        browser = net.browser()
        response = await browser.client.post(f"{net.urls['a']}/login-redirect", follow_redirects=False)
        assert response.headers["location"].startswith(f"{net.urls['b']}/_sessionsync/pull?")
        assert cache_control(response) == ["no-store"]


@pytest.mark.parametrize("mode", ["bounce", "frame", "auto"])
async def test_an_html_page_with_sign_in_steps_injected_is_never_cached(mode: str) -> None:
    """Issue #20, finding 4: the bounce's meta refresh and the frames' pull URLs are
    single-use steps of this browser's sign-in: never kept by a cache."""
    async with SiteNetwork(
        {"a": cacheable_sign_in_site(), "b": login_app("b", {})}, settings={"sync_mode": mode}
    ) as net:
        browser = net.browser()
        response = await browser.client.post(f"{net.urls['a']}/login-page", follow_redirects=False)
        assert f"{net.urls['b']}/_sessionsync/pull?" in response.text
        assert cache_control(response) == ["no-store"]
