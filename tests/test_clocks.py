"""Clock skew (#12): a site whose clock is off still shares sign-in and sign-out.

Each site measures each peer's clock offset from its ping answers and seals what it
sends a peer in the peer's time; a chain's sign-out ends the chain's sessions whatever
the clocks say; an offset beyond SESSIONSYNC_CLOCK_SKEW is logged as an error.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import pytest

from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE, BOB

URLS = {n: f"https://{n}.example" for n in "abc"}


def ahead(seconds: float) -> Callable[[], float]:
    return lambda: time.time() + seconds


def three_sites(clocks: dict[str, Callable[[], float]]) -> SiteNetwork:
    others = {n: {m: URLS[m] for m in URLS if m != n} for n in URLS}
    apps = {
        "a": login_app("a", dict([ALICE]), others["a"], csrf_check=False),
        "b": login_app("b", {}, others["b"], csrf_check=False),
        "c": session_login_app("c", dict([BOB]), others["c"], secret_key="c-secret", csrf_check=False),
    }
    site_settings: dict[str, dict[str, object]] = {n: {"clock": clock} for n, clock in clocks.items()}
    site_settings.setdefault("c", {}).update(identity="starlette-session", app_session_secret="c-secret")
    return SiteNetwork(apps, urls=URLS, site_settings=site_settings)


@pytest.mark.parametrize("skew", [20.0, 60.0])
@pytest.mark.parametrize("wrong", ["a", "b"])
async def test_a_site_whose_clock_is_ahead_still_syncs_sign_in_and_sign_out(skew: float, wrong: str) -> None:
    async with three_sites({wrong: ahead(skew)}) as net:
        for signin, signout in [("a", "b"), ("c", "a"), ("a", "c")]:
            browser = net.browser()
            account = ALICE if signin == "a" else BOB
            await browser.sign_in(signin, *account)
            # Signed in by the chain itself (not by a later catch-up visit).
            for name in "abc":
                sessions = await net.sites[name].site.stores.sessions.list(user=account[0])
                assert len(sessions) == 1, (signin, name)
            assert await browser.everyone() == dict.fromkeys("abc", account[0])
            await browser.sign_out(signout)
            assert await browser.everyone() == dict.fromkeys("abc"), signout


async def test_a_first_visit_catch_up_works_across_clocks() -> None:
    async with three_sites({"a": ahead(60.0)}) as net:
        browser = net.browser()
        await browser.sign_in("c", *BOB)
        # A cookie lost on a (bounce-tracking protection): the next visit catches up.
        browser.client.cookies.clear(domain="a.example")
        assert await browser.who("a") == BOB[0]


async def test_revoking_everywhere_ends_older_sessions_whatever_the_clocks() -> None:
    async with three_sites({"a": ahead(60.0), "c": ahead(-30.0)}) as net:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        assert await browser.everyone() == dict.fromkeys("abc", ALICE[0])
        await net.sites["b"].site.sign_outs.everywhere(ALICE[0], reason="revoked")
        assert await browser.everyone() == dict.fromkeys("abc")


async def test_an_offset_beyond_the_tolerance_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    async with three_sites({"b": ahead(60.0)}) as net:
        a = net.sites["a"].site
        peer = a.asking.peer(URLS["b"])
        assert peer is not None
        with caplog.at_level(logging.ERROR, logger="asgi_sessionsync"):
            for _ in range(3):
                result = await a.health.check(peer, max_age=0)
        assert result.ok and result.offset is not None and 59 < result.offset < 61
        assert 59 < a.tokens.offsets[URLS["b"]] < 61
        errors = [r.getMessage() for r in caplog.records if "clock of peer" in r.getMessage()]
        assert len(errors) == 1
        said = re.search(r"is (\d+\.\d) s ahead of this site's", errors[0])
        assert said is not None and 59 < float(said.group(1)) < 61 and "SESSIONSYNC_CLOCK_SKEW" in errors[0]
