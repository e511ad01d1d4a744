"""Idle timeout per role: a session with no request for N minutes ends, everywhere its
sign-in is not in use; found by the next request (one comparison) or by the worker's pass."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.stores import SessionRecord, User
from asgi_sessionsync.testing import SiteNetwork
from tests.constants import ALICE
from tests.sites import URLS, three_sites

HOUR = 3600.0


@pytest.fixture(params=["sqlite", "memory"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    policy = Policy.from_mapping({"defaults": {"idle_timeout": "10m"}, "roles": {"editor": {"idle_timeout": 0}}})
    async with three_sites(tmp_path if request.param == "sqlite" else None, policy=policy) as sites:
        yield sites


async def row(net: SiteNetwork, site: str) -> list[SessionRecord]:
    return await net.sites[site].site.stores.sessions.list(user=ALICE[0], include_ended=True)


async def last_seen(net: SiteNetwork, site: str, ago: float) -> None:
    for r in await row(net, site):
        await net.sites[site].site.stores.sessions.touch(r.sid, time.time() - ago)


async def test_a_request_after_the_idle_timeout_ends_the_session_on_every_site_not_using_it(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    await last_seen(net, "a", HOUR)
    await last_seen(net, "b", HOUR)  # C was used a moment ago: its session stays

    page = await browser.get(f"{URLS['a']}/", follow_redirects=False)
    assert "Signed in" not in page.text
    (on_a,) = await row(net, "a")
    assert on_a.end_reason == "idle"
    (on_b,) = await row(net, "b")
    assert on_b.end_reason == f"idle (on {URLS['a']})"
    (on_c,) = await row(net, "c")
    assert on_c.active
    # Still in use on C, so the person is signed in: A catches up from C at the browser's
    # next visit once the catch-up interval has passed (its cookie gone).
    browser.cookies.delete(net.sites["a"].cookie_names.seen, domain="a.example")
    assert await browser.who("a") == ALICE[0]


async def test_idle_everywhere_ends_the_sign_in_everywhere(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    for site in "abc":
        await last_seen(net, site, HOUR)
    assert await browser.who("b") is None
    assert [r.end_reason for r in await row(net, "b")] == ["idle"]
    assert [r.end_reason for r in await row(net, "a")] == [f"idle (on {URLS['b']})"]
    assert [r.end_reason for r in await row(net, "c")] == [f"idle (on {URLS['b']})"]
    assert await browser.everyone() == dict.fromkeys("abc")


async def test_a_session_used_within_the_timeout_and_its_granularity_stays(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    # last_seen_at is written at most once a minute: 10 minutes and 50 seconds without a
    # recorded request may be under 10 minutes of real idleness, so the session stays.
    await last_seen(net, "a", 650)
    assert await browser.who("a") == ALICE[0]
    assert all(r.active for r in await row(net, "a"))


async def test_a_role_without_an_idle_timeout_never_goes_idle(net: SiteNetwork) -> None:
    for site in "abc":
        await net.sites[site].site.stores.users.create(User(ALICE[0], "editor"))
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    await last_seen(net, "a", 10 * HOUR)
    assert await browser.who("a") == ALICE[0]


async def test_the_workers_pass_ends_idle_sessions_that_never_come_back(net: SiteNetwork) -> None:
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    for site in "abc":
        await last_seen(net, site, HOUR)
    assert await net.sites["c"].site.idle.end_idle(time.time()) == 1
    assert [r.end_reason for r in await row(net, "c")] == ["idle"]
    assert [r.end_reason for r in await row(net, "a")] == [f"idle (on {URLS['c']})"]
    assert await net.sites["c"].site.idle.end_idle(time.time()) == 0


async def test_the_pass_with_only_a_default_idle_timeout_ends_what_is_idle(tmp_path: Path) -> None:
    policy = Policy.from_mapping({"defaults": {"idle_timeout": "5m"}})
    async with three_sites(tmp_path, policy=policy) as net:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        await last_seen(net, "a", HOUR)
        assert await net.sites["a"].site.idle.end_idle(time.time()) == 1
        assert [r.end_reason for r in await row(net, "a")] == ["idle"]
