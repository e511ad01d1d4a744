"""A peer the browser cannot reach never costs the user their page (issue #23): the
servers see every peer healthy, but this browser cannot open one (a blocking proxy, a DNS
failure, an ad-blocker). The first-visit catch-up's page asks each peer from the browser
first and leaves out the one it cannot reach; the site remembers, for this browser, and
its sign-in chains leave that peer out too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.stores import ActivityFilter, Outcome
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.constants import ALICE


@pytest.fixture
async def net() -> AsyncIterator[SiteNetwork]:
    apps = {name: login_app(name, dict([ALICE]) if name in "ab" else {}) for name in "abc"}
    async with SiteNetwork(apps) as network:
        yield network


async def test_the_first_visit_gets_its_page_when_a_peer_is_out_of_the_browsers_reach(net: SiteNetwork) -> None:
    # Alice signs in on B in a browser that cannot reach A (the first peer C would ask).
    browser = net.browser(unreachable={"a"})
    landed = await browser.sign_in("b", *ALICE, next_path="/account")
    assert str(landed.url) == f"{net.urls['b']}/account"
    assert not [url for url in browser.history if url.startswith(net.urls["a"])]
    # C's cookies are lost (a purge, say): C's first visit catches up, and asks B, not A.
    for cookie in [c for c in browser.cookies if c.domain.startswith("c.")]:
        browser.cookies.delete(cookie.name, cookie.domain, cookie.path)
    page = await browser.get(f"{net.urls['c']}/account")
    assert page.status_code == 200 and str(page.url) == f"{net.urls['c']}/account"
    assert "Account of alice@example.com" in page.text
    assert not [url for url in browser.history if url.startswith(net.urls["a"])]


async def test_a_sign_in_leaves_out_the_peer_this_browser_cannot_reach(net: SiteNetwork) -> None:
    browser = net.browser(unreachable={"b"})
    # The first visit to A (its catch-up page) finds B out of reach; A remembers.
    first = await browser.get(f"{net.urls['a']}/login")
    assert first.status_code == 200 and str(first.url) == f"{net.urls['a']}/login"
    landed = await browser.sign_in("a", *ALICE, next_path="/account")
    assert str(landed.url) == f"{net.urls['a']}/account"
    assert not [url for url in browser.history if url.startswith(net.urls["b"])]
    assert await browser.who("c") == ALICE[0]
    activity = net.sites["a"].site.stores.activity
    assert activity is not None
    left = await activity.list(ActivityFilter(outcome=Outcome.LEFT_OUT))
    assert [(e.peer, "could not reach" in e.reason) for e in left] == [(net.urls["b"], True)]


async def test_only_the_sites_own_page_can_say_a_peer_is_out_of_reach(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    # A link from elsewhere to C's catch-up step naming A as out of reach is not taken.
    from asgi_sessionsync.unreachable import peer_id

    url = f"{net.urls['c']}/_sessionsync/catchup?r={net.urls['c']}/&x={peer_id(net.urls['a'])}"
    page = await browser.get(url, headers={"sec-fetch-site": "cross-site"})
    assert "Signed in as alice@example.com" in page.text
    assert not any("unreachable" in cookie.name for cookie in browser.cookies)


def older(app: ASGIApp) -> ASGIApp:
    """A peer of a version before the catch-up's page: its ping says nothing of the probe
    and its plain ping answers no CORS."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def stripped(message: Message) -> None:
            if message["type"] == "http.response.start":
                dropped = (b"x-sessionsync-probe", b"access-control-allow-origin")
                message = {**message, "headers": [(k, v) for k, v in message["headers"] if k not in dropped]}
            await send(message)

        await app(scope, receive, stripped)

    return wrapped


async def test_an_older_peer_is_still_asked_by_the_catch_up(net: SiteNetwork) -> None:
    for host in [h for h in net.network.apps if h.startswith("a.")]:
        net.network.apps[host] = older(net.network.apps[host])
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    for cookie in [c for c in browser.cookies if c.domain.startswith("c.")]:
        browser.cookies.delete(cookie.name, cookie.domain, cookie.path)
    page = await browser.get(f"{net.urls['c']}/account")
    assert "Account of alice@example.com" in page.text  # asked A (without CORS): caught up
    assert not any("unreachable" in cookie.name for cookie in browser.cookies)
