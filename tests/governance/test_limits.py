"""The session policy through three in-process sites: every rule, every action on a limit.

A, B and C share one login (``tests.sites``); each test gives every site the same policy
(or one site its own) and signs browsers in from different addresses and devices.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.stores import SessionRecord, User
from asgi_sessionsync.testing import Browser, SiteNetwork
from tests.constants import ALICE
from tests.governance.mmdb import write_country_database
from tests.sites import URLS, three_sites

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.0 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"

PUBLIC = "93.184.216.34"  # globally routable (the documentation ranges count as private)
Network = Callable[..., Any]


@pytest.fixture(params=["sqlite", "memory"])
async def network(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Network]:
    """Make the three sites with a policy (``defaults`` keys, or a whole mapping)."""
    opened: list[SiteNetwork] = []

    async def make(policy: dict[str, Any] | None = None, **settings: Any) -> SiteNetwork:
        if policy is not None:
            settings["policy"] = Policy.from_mapping(
                policy if "defaults" in policy or "roles" in policy else {"defaults": policy}
            )
        net = three_sites(tmp_path if request.param == "sqlite" else None, **settings)
        opened.append(net)
        return net

    yield make
    for net in opened:
        await net.aclose()


def browser(net: SiteNetwork, ip: str = "203.0.113.7", user_agent: str = DESKTOP) -> Browser:
    made = net.browser(ip)
    made.client.headers["user-agent"] = user_agent
    return made


async def sessions(net: SiteNetwork, site: str, user: str = ALICE[0]) -> list[SessionRecord]:
    return await net.sites[site].site.stores.sessions.list(user=user, include_ended=True)


async def refused(response: Any) -> None:
    assert response.status_code == 403, response.text[:300]
    assert "Sign-in refused" in response.text
    for cookie in response.headers.get_list("set-cookie"):
        assert not cookie.startswith("__Host-sessionsync=") or "Max-Age=0" in cookie, cookie


# -- concurrent sessions per user: block, end-oldest, redirect ------------------------------


async def test_max_sessions_counts_one_sign_in_synced_to_three_sites_as_one_and_blocks_the_next(
    network: Network,
) -> None:
    net = await network({"max_sessions": 1})
    laptop, phone = browser(net), browser(net, "198.51.100.20", PHONE)
    await laptop.sign_in("a", *ALICE)
    assert await laptop.everyone() == dict.fromkeys("abc", ALICE[0])  # one chain, three rows: one sign-in

    await refused(await phone.sign_in("a", *ALICE))
    assert await phone.everyone() == dict.fromkeys("abc")
    assert await laptop.everyone() == dict.fromkeys("abc", ALICE[0])
    blocked = [r for r in await sessions(net, "a") if r.end_reason == "blocked: max_sessions"]
    assert len(blocked) == 1 and blocked[0].ip == "198.51.100.20"
    assert [r for r in await sessions(net, "b") if r.end_reason and r.end_reason.startswith("blocked")] == []


async def test_end_oldest_ends_the_older_sign_in_on_every_site_and_lets_the_new_one_in(network: Network) -> None:
    net = await network({"max_sessions": 1, "on_limit": "end-oldest"})
    laptop, phone = browser(net), browser(net, "198.51.100.20", PHONE)
    await laptop.sign_in("a", *ALICE)
    await phone.sign_in("a", *ALICE)
    assert await phone.everyone() == dict.fromkeys("abc", ALICE[0])
    assert await laptop.everyone() == dict.fromkeys("abc")
    ended = {r.site: r.end_reason for r in (await sessions(net, "b")) + (await sessions(net, "c")) if r.ended_at}
    assert ended == {
        URLS["b"]: f"limit: max_sessions (on {URLS['a']})",
        URLS["c"]: f"limit: max_sessions (on {URLS['a']})",
    }
    (on_a,) = [r for r in await sessions(net, "a") if r.ended_at]
    assert (on_a.end_reason, on_a.ip) == ("limit: max_sessions", "203.0.113.7")


async def test_redirect_on_limit_sends_the_browser_to_the_sites_page_and_signs_nobody_in(network: Network) -> None:
    net = await network({"max_sessions": 1, "on_limit": "redirect", "redirect_to": "/too-many"})
    laptop, phone = browser(net), browser(net, "198.51.100.20")
    await laptop.sign_in("a", *ALICE)
    form = await phone.get(f"{URLS['a']}/login")
    answer = await phone.submit(
        f"{URLS['a']}/login",
        {"email": ALICE[0], "password": ALICE[1], "next": "/"},
        from_page=form,
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"{URLS['a']}/too-many"
    assert await phone.everyone() == dict.fromkeys("abc")


# -- per IP, device class, browser, OS, country ---------------------------------------------


async def test_max_sessions_per_ip_counts_only_sign_ins_from_that_address(network: Network) -> None:
    net = await network({"max_sessions_per_ip": 1})
    await browser(net, "203.0.113.7").sign_in("a", *ALICE)
    await refused(await browser(net, "203.0.113.7", PHONE).sign_in("a", *ALICE))
    other = browser(net, "198.51.100.20")
    await other.sign_in("a", *ALICE)
    assert await other.who("b") == ALICE[0]


@pytest.mark.parametrize(
    ("rule", "same", "different"),
    [
        ("max_sessions_per_device_class", DESKTOP.replace("Chrome/120", "Chrome/121"), PHONE),
        ("max_sessions_per_browser", DESKTOP.replace("X11; Linux x86_64", "Windows NT 10.0; Win64; x64"), PHONE),
        ("max_sessions_per_os", DESKTOP.replace("Chrome/120.0", "Chrome/120.0 Edg/120.0"), FIREFOX_WINDOWS),
    ],
)
async def test_device_limits_count_sign_ins_of_the_same_kind_of_device(
    network: Network, rule: str, same: str, different: str
) -> None:
    net = await network({rule: 1})
    await browser(net, "203.0.113.7", DESKTOP).sign_in("a", *ALICE)
    await refused(await browser(net, "203.0.113.8", same).sign_in("a", *ALICE))
    allowed = browser(net, "203.0.113.9", different)
    await allowed.sign_in("a", *ALICE)
    assert await allowed.who("c") == ALICE[0]
    devices = {r.device for r in await sessions(net, "a") if r.ended_at is None}
    other = str(await net.sites["a"].site.admissions.devices.device(different))
    assert devices == {"desktop/Chrome/Linux/browser", other}


async def test_max_sessions_per_country_from_a_maxmind_database(network: Network, tmp_path: Path) -> None:
    database = write_country_database(tmp_path / "countries.mmdb", {"203.0.113.0/24": "DE", "198.51.100.0/24": "FR"})
    net = await network({"max_sessions_per_country": 1}, geoip_database=str(database))
    await browser(net, "203.0.113.7").sign_in("a", *ALICE)
    await refused(await browser(net, "203.0.113.8").sign_in("a", *ALICE))
    france = browser(net, "198.51.100.20")
    await france.sign_in("a", *ALICE)
    assert await france.who("b") == ALICE[0]
    countries = sorted(r.country for r in await sessions(net, "b") if r.ended_at is None)
    assert countries == ["DE", "FR"]


async def test_country_header_is_believed_only_from_a_trusted_proxy(network: Network) -> None:
    net = await network(None, country_header="CF-IPCountry", trusted_proxies=["10.0.0.1"])
    spoofing = browser(net, "203.0.113.7")
    spoofing.client.headers["cf-ipcountry"] = "JP"
    await spoofing.sign_in("a", *ALICE)
    proxied = browser(net, "10.0.0.1")
    proxied.client.headers.update({"cf-ipcountry": "ca", "x-forwarded-for": "198.51.100.20"})
    await proxied.sign_in("a", *ALICE)
    recorded = {r.ip: r.country for r in await sessions(net, "a")}
    assert recorded == {"203.0.113.7": "", "198.51.100.20": "CA"}


# -- distinct IPs over a window, IP ranges per role ----------------------------------------


async def test_max_ips_refuses_a_new_address_once_the_window_has_seen_enough(network: Network) -> None:
    net = await network({"max_ips": 2, "ip_window": "1h"})
    for ip in ("203.0.113.7", "198.51.100.20"):
        await browser(net, ip).sign_in("a", *ALICE)
    await refused(await browser(net, "192.0.2.1").sign_in("a", *ALICE))
    again = browser(net, "198.51.100.20", PHONE)  # an address already used: fine
    await again.sign_in("a", *ALICE)
    assert await again.who("a") == ALICE[0]


async def test_max_ips_is_never_resolved_by_ending_sessions(network: Network) -> None:
    net = await network({"max_ips": 1, "on_limit": "end-oldest"})
    first = browser(net, "203.0.113.7")
    await first.sign_in("a", *ALICE)
    await refused(await browser(net, "198.51.100.20").sign_in("a", *ALICE))
    assert await first.who("a") == ALICE[0]


async def test_ip_ranges_per_role_allow_private_only_for_editors_and_block_a_listed_network(network: Network) -> None:
    net = await network(
        {
            "defaults": {"block_ips": ["192.0.2.0/24"]},
            "roles": {"editor": {"allow_ips": ["private"]}},
        }
    )
    for name in "abc":
        await net.sites[name].site.stores.users.create(User(ALICE[0], "editor"))
    await refused(await browser(net, PUBLIC).sign_in("a", *ALICE))
    office = browser(net, "10.1.2.3")
    await office.sign_in("a", *ALICE)
    assert await office.everyone() == dict.fromkeys("abc", ALICE[0])
    blocked_row = [r for r in await sessions(net, "a") if r.end_reason == "blocked: ip_not_allowed"]
    assert len(blocked_row) == 1
    # The editor section replaced nothing else: a member is still refused from the blocked network.
    await refused(await browser(net, "192.0.2.9").sign_in("c", "bob@example.com", "builder"))
    member = browser(net, PUBLIC)
    await member.sign_in("c", "bob@example.com", "builder")
    assert await member.who("a") == "bob@example.com"


async def test_a_peer_that_refuses_a_hop_signs_nobody_in_and_the_chain_goes_on() -> None:
    # Only B has a policy (its own roles, its own rules): members only from private addresses.
    async with _with_site_policy("b", Policy.from_mapping({"defaults": {"allow_ips": ["private"]}})) as net:
        visitor = browser(net, PUBLIC)
        landed = await visitor.sign_in("a", *ALICE, next_path="/account")
        assert str(landed.url) == f"{URLS['a']}/account"
        assert await visitor.everyone() == {"a": ALICE[0], "b": None, "c": ALICE[0]}
        rows = await sessions(net, "b")
        assert rows and all(r.end_reason == "blocked: ip_not_allowed" for r in rows)
        assert rows[-1].via == f"hop from {URLS['a']}"


def _with_site_policy(name: str, policy: Policy) -> SiteNetwork:
    from asgi_sessionsync.testing_apps import login_app, session_login_app
    from tests.constants import BOB
    from tests.sites import BACKCHANNEL, C_SESSION_SECRET, NAMES

    def others(site: str) -> dict[str, str]:
        return {n: URLS[n] for n in NAMES if n != site}

    apps = {
        "a": login_app("a", dict([ALICE]), others("a"), csrf_check=False),
        "b": login_app("b", {}, others("b"), csrf_check=False),
        "c": session_login_app("c", dict([BOB]), others("c"), secret_key=C_SESSION_SECRET, csrf_check=False),
    }
    return SiteNetwork(
        apps,
        urls=URLS,
        backchannel_urls=BACKCHANNEL,
        site_settings={
            name: {"policy": policy},
            "c": {"identity": "starlette-session", "app_session_secret": C_SESSION_SECRET},
        },
    )


async def test_max_sessions_per_client_type_counts_browsers_and_libraries_apart(network: Network) -> None:
    net = await network({"max_sessions_per_client_type": 1})
    await browser(net, "203.0.113.7", DESKTOP).sign_in("a", *ALICE)
    await refused(await browser(net, "203.0.113.8", PHONE).sign_in("a", *ALICE))  # another browser
    script = browser(net, "203.0.113.9", "python-requests/2.31.0")  # a program signing in: a library
    await script.sign_in("a", *ALICE)
    assert await script.who("c") == ALICE[0]
    live = {r.device for r in await sessions(net, "a") if r.ended_at is None}
    assert live == {"desktop/Chrome/Linux/browser", "other/Python Requests/Other/library"}
    blocked = [r for r in await sessions(net, "a") if r.end_reason == "blocked: max_sessions_per_client_type"]
    assert [r.device for r in blocked] == ["mobile/Mobile Safari/iOS/browser"]
