"""A slow chain is still a chain (issue #23): a sign-in's chain whose steps outlive
``SESSIONSYNC_HOP_LIFETIME`` (a loaded machine, a slow network) goes on; a step later
than the limit leaves the peers still to visit out, said as a WARNING and in the activity
log, and their first-visit catch-up signs the browser in there at its next page view.

The sites share one clock, moved forward between two steps of the chain, as a browser
that took that long would find it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from asgi_sessionsync.endpoints.answering import LATE_STEP_LIMIT
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import ActivityFilter, Outcome
from asgi_sessionsync.testing import Browser, SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.constants import ALICE

LIFETIME = 30.0


class Clock:
    def __init__(self) -> None:
        import time

        self._time = time.time
        self.shift = 0.0

    def __call__(self) -> float:
        return self._time() + self.shift


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def net(clock: Clock) -> AsyncIterator[SiteNetwork]:
    apps = {name: login_app(name, dict([ALICE]) if name == "a" else {}) for name in "abc"}
    async with SiteNetwork(apps, settings={"clock": clock, "hop_lifetime": LIFETIME}) as network:
        yield network


def site(net: SiteNetwork, name: str) -> Site:
    return net.sites[name].site


async def sign_in_slowly(browser: Browser, net: SiteNetwork, before: Callable[[str], None]) -> list[str]:
    """Sign in on A, then follow the chain one redirect at a time, calling ``before``
    with each URL first (to move the clock); the URLs visited, without their query."""
    form = await browser.get(f"{net.urls['a']}/login")
    fields = {"email": ALICE[0], "password": ALICE[1], "next": "/"}
    fields.update({k: v for k, v in _hidden(form.text).items() if k not in fields})
    response = await browser.submit(f"{net.urls['a']}/login", fields, from_page=form, follow_redirects=False)
    visited = []
    while response.status_code in (302, 303) and "location" in response.headers:
        url = str(httpx.URL(str(response.url)).join(response.headers["location"]))
        before(url)
        visited.append(url.split("?")[0])
        response = await browser.get(url, follow_redirects=False)
        assert response.status_code < 500
    return visited


def _hidden(page: str) -> dict[str, str]:
    from asgi_sessionsync.testing.browser import hidden_fields

    return hidden_fields(page)


async def left_out(s: Site) -> list[tuple[str, str]]:
    entries = await s.stores.activity.list(ActivityFilter(outcome=Outcome.LEFT_OUT)) if s.stores.activity else []
    return sorted((e.direction.value, e.peer) for e in entries)


async def signed_in_by_the_chain(net: SiteNetwork) -> dict[str, bool]:
    """Whether B and C have a session of alice's (looked up in their stores: a page view
    would start a catch-up)."""
    return {n: bool(await site(net, n).stores.sessions.search(user=ALICE[0], active=True)) for n in "bc"}


def at(step: str, site_name: str, net: SiteNetwork, clock: Clock, seconds: float) -> Callable[[str], None]:
    """Move the clock ``seconds`` on before the first request for ``step`` on ``site_name``."""
    done: list[str] = []

    def before(url: str) -> None:
        if not done and url.startswith(f"{net.urls[site_name]}/_sessionsync/{step}"):
            done.append(url)
            clock.shift += seconds

    return before


async def test_a_chain_whose_steps_outlive_the_hop_lifetime_goes_on(
    net: SiteNetwork, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    browser = net.browser()
    # A's chain note and B's request reach A's authorize 40 s after they were made.
    with caplog.at_level(logging.INFO):
        visited = await sign_in_slowly(browser, net, at("authorize", "a", net, clock, LIFETIME + 10))
    assert visited[-1] == f"{net.urls['a']}/"
    assert await signed_in_by_the_chain(net) == {"b": True, "c": True}
    assert await left_out(site(net, "a")) == []
    assert "past its lifetime: the chain goes on" in caplog.text


async def test_a_step_later_than_the_limit_leaves_the_rest_out_and_the_catch_up_signs_them_in(
    net: SiteNetwork, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    browser = net.browser()
    with caplog.at_level(logging.WARNING):
        visited = await sign_in_slowly(browser, net, at("authorize", "a", net, clock, LATE_STEP_LIMIT + 10))
    # Never a silent end: back to the page asked for, each peer left out said and recorded.
    assert visited[-1] == f"{net.urls['a']}/"
    assert await signed_in_by_the_chain(net) == {"b": False, "c": False}
    assert await left_out(site(net, "a")) == [("sent", net.urls["b"]), ("sent", net.urls["c"])]
    warned = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "not carried to" in r.getMessage()
    ]
    assert len(warned) == 2 and all("catch-up" in w for w in warned), warned
    # Their next page view (a navigation: the first-visit catch-up) signs the browser in.
    assert await browser.everyone() == dict.fromkeys("abc", ALICE[0])


async def test_a_hop_past_its_lifetime_leaves_that_peer_out_and_the_chain_goes_on(
    net: SiteNetwork, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    browser = net.browser()
    # The browser had visited B before (its catch-up found nobody: the seen cookie is set).
    assert await browser.who("b") is None
    with caplog.at_level(logging.WARNING):
        await sign_in_slowly(browser, net, at("hop", "b", net, clock, LIFETIME + 10))
    assert await signed_in_by_the_chain(net) == {"b": False, "c": True}
    assert await left_out(site(net, "b")) == [("received", net.urls["a"])]
    assert any("left out here" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    on_c = await browser.get(f"{net.urls['c']}/", headers={"sec-fetch-site": "none"})
    assert "Signed in as alice@example.com" in on_c.text  # the chain went on to C
    # B's pull cleared its seen cookie: the next page view there catches up.
    assert await browser.who("b") == ALICE[0]
