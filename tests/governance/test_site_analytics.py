"""The analytics the Sessions plugin reports beyond sessions (#26), each counted at the
one place it happens: failed logins the app reports, spam sessions, user changes here and
from a peer, account statistics; on three in-process sites (memory and SQLite stores)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asgi_sessionsync import record_failed_login
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.site import Site
from asgi_sessionsync.site_counts import BURST_SESSIONS
from asgi_sessionsync.stores import User
from asgi_sessionsync.stores.analytics import SiteAnalytics, site_analytics
from asgi_sessionsync.stores.event_counts import BURST, SCRIPTED
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import create_user, delete_user, set_password, set_role
from tests.constants import ALICE
from tests.sites import Browser, Sites

DAY = 86400.0
HASH = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="


def site_of(sites: Sites, name: str) -> Site:
    return sites[1][name].app.site


async def figures(site: Site) -> SiteAnalytics:
    now = time.time()
    return await site_analytics(site.stores, now - DAY, now)


async def test_failed_logins_the_app_reports_make_the_login_success_rate(sites: Sites, browser: Browser) -> None:
    a = site_of(sites, "a")
    before = await figures(a)
    assert (before.login_success, before.events.total_failed) == (None, 0)  # no attempt yet
    await browser.sign_in("a", ALICE[0], "wrong")  # alice is not a user here yet: unknown
    await browser.sign_in("a", *ALICE)
    await browser.sign_out("a")
    await browser.sign_in("a", ALICE[0], "wrong again")  # now a known account
    await browser.sign_in("a", "nobody@example.com", "guess")
    await record_failed_login(a, None)  # an app that gives no email
    after = await figures(a)
    assert after.events.failed_logins == {"known account": 1, "unknown account": 3}
    assert after.logins_here == 1 and after.login_attempts == 5
    assert after.login_success == pytest.approx(1 / 5)
    # Privacy: the counts hold no email, nor anything else that names someone.
    counted = await a.stores.counts.read(time.time() - DAY, time.time())
    assert counted and not any("@" in f"{c.kind}{c.key}" for c in counted)
    # The peers' figures: a sign-in synced there is no login attempt of theirs.
    b = await figures(site_of(sites, "b"))
    assert b.events.total_failed == 0 and b.logins_here == 0 and b.sessions.logins == {"via a peer": 1}


def scope(address: str, agent: bytes = b"Mozilla/5.0") -> dict[str, object]:
    return {"type": "http", "client": (address, 50000), "headers": [(b"user-agent", agent)], "path": "/"}


async def test_a_burst_of_sign_ins_from_one_address_and_scripted_clients_are_spam(sites: Sites) -> None:
    a = site_of(sites, "a")
    ann = await a.stores.users.create(User("ann@example.com", "member"))

    async def start(address: str, device: str = "desktop/Chrome/Linux/browser") -> None:
        await a.starter.start(ann, chain=None, scope=scope(address), via="login", device=device)

    for _ in range(BURST_SESSIONS - 1):
        await start("198.51.100.7")
    assert (await figures(a)).events.total_spam == 0  # nine an hour from one address: not yet
    await start("198.51.100.7")
    await start("198.51.100.7")
    await start("198.51.100.8")  # another address: its first
    await start("198.51.100.9", device="other/Python Requests/Other/library")
    await start("198.51.100.9", device="bot/Googlebot/Other/bot")
    got = await figures(a)
    assert got.events.spam_sessions == {BURST: 2, SCRIPTED: 2}
    assert got.sessions.total_logins == BURST_SESSIONS + 4  # spam sessions are sessions all the same


EVERYTHING = {
    "defaults": {
        **dict.fromkeys(("create", "update", "delete", "password", "role", "meta"), "both"),
        "password_formats": ["scrypt"],
    }
}


@pytest.fixture(params=["memory", "sqlite"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    apps = {name: login_app(name) for name in "ab"}
    rules = NetworkRules.from_mapping(EVERYTHING)
    data_dir = tmp_path if request.param == "sqlite" else None
    async with SiteNetwork(apps, settings={"network_rules": rules, "auto_provision": True}, data_dir=data_dir) as made:
        yield made


async def test_user_changes_count_here_and_from_a_peer_and_accounts_by_role_and_origin(net: SiteNetwork) -> None:
    a, b = net.sites["a"].site, net.sites["b"].site
    await create_user(a, "ann@example.com", name="Ann", role="editor", password_hash=HASH)
    await create_user(a, "cy@example.com", name="Cy")
    await set_password(a, "ann@example.com", HASH.replace("aGFzaA", "bmV3"))
    await set_role(a, "cy@example.com", "editor")
    await delete_user(a, "cy@example.com")
    await b.stores.users.create(User("bo@example.com", "member", provisioned_by="https://c.example"))
    on_a, on_b = await figures(a), await figures(b)
    assert on_a.events.user_changes == {
        "create": {"here": 2},
        "delete": {"here": 1},
        "password": {"here": 1},
        "role": {"here": 1},
    }
    assert on_b.events.user_changes == {
        "create": {"peer": 2},
        "delete": {"peer": 1},
        "password": {"peer": 1},
        "role": {"peer": 1},
    }
    assert on_a.events.password_resets == on_b.events.password_resets == 1
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert on_a.events.days[today] == {"password resets": 1, "deleted": 1}
    assert (on_a.accounts.users, on_a.accounts.roles, on_a.accounts.total_created) == (1, {"editor": 1}, 1)
    assert on_b.accounts.users == 2 and on_b.accounts.total_created == 2
    assert on_b.accounts.provisioned_by == {"https://a.example": 1, "https://c.example": 1}  # by whom it came
