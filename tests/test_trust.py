"""Trust at the edges (issue #9): a sign-in binds to the browser, not to an address;
sign-ins made by other sites stay local; frame mode weakens nothing; no peer makes an
administrator. Each test was run against the v1 code first and failed there."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.stores import User
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.sites import URLS, Browser, InProcessNetwork, Site, make_sites

Sites = tuple[InProcessNetwork, dict[str, Site]]
ALICE = ("alice@example.com", "wonderland")
BOB = ("bob@example.com", "builder")
IMAGE = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}


async def walk(browser: Browser, url: str, *, stop_at: str | None = None) -> list[str]:
    """Follow redirects by hand, as a browser would; return every URL visited. With
    ``stop_at``, stop before requesting the first URL containing it (and return it last)."""
    visited = []
    for _ in range(20):
        if stop_at is not None and stop_at in url:
            visited.append(url)
            return visited
        visited.append(url)
        response = await browser.client.get(url, follow_redirects=False)
        if not response.is_redirect:
            return visited
        url = str(response.next_request.url) if response.next_request else response.headers["location"]
    raise AssertionError("redirect loop")


async def captured_chain(network: InProcessNetwork) -> list[str]:
    """Alice (the attacker here) signs in on A and walks her sync chain up to the first
    hop, which she keeps unused; every URL up to and including that hop, in order."""
    attacker = Browser(network)
    response = await attacker.client.post(
        f"{URLS['a']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 303
    urls = await walk(attacker, response.headers["location"], stop_at="/_sessionsync/hop?")
    assert "/_sessionsync/hop?" in urls[-1]
    await attacker.close()
    return urls


async def test_captured_sign_in_urls_never_sign_another_browser_in_at_the_same_address(sites: Sites) -> None:
    network, _ = sites
    chain = await captured_chain(network)
    assert any("/_sessionsync/" in u for u in chain)
    for url in chain:
        victim = Browser(network)  # same address as the attacker: NAT, an office, a café
        await victim.get(url)
        assert await victim.everyone() == {"a": None, "b": None, "c": None}, url
        await victim.close()


async def test_a_sign_in_never_replaces_another_signed_in_user_on_a_peer(sites: Sites) -> None:
    network, _ = sites
    victim = Browser(network)
    await victim.sign_in("c", *BOB)
    assert await victim.everyone() == {"a": BOB[0], "b": BOB[0], "c": BOB[0]}
    for url in await captured_chain(network):
        await victim.get(url)
        assert await victim.everyone() == {"a": BOB[0], "b": BOB[0], "c": BOB[0]}, url


async def test_a_sign_in_step_loaded_as_an_image_signs_nobody_in_and_leaves_no_session(sites: Sites) -> None:
    network, built = sites
    chain = [u for u in await captured_chain(network) if "/_sessionsync/" in u]
    victim = Browser(network)
    before = {n: len(await s.stores.sessions.list(include_ended=True)) for n, s in built.items()}
    for url in chain:
        response = await victim.client.get(url, headers=IMAGE, follow_redirects=False)
        assert response.status_code in (303, 400), url
        if response.is_redirect:  # an <img> follows redirects too
            await victim.client.get(response.headers["location"], headers=IMAGE, follow_redirects=False)
    after = {n: len(await s.stores.sessions.list(include_ended=True)) for n, s in built.items()}
    assert after == before
    assert await victim.everyone() == {"a": None, "b": None, "c": None}


async def test_a_sign_in_made_by_another_sites_form_stays_on_that_site(sites: Sites) -> None:
    network, _ = sites
    victim = Browser(network)
    # evil.example auto-submits a form to A's login with the attacker's credentials.
    await victim.client.post(
        f"{URLS['a']}/login",
        data={"email": ALICE[0], "password": ALICE[1], "next": "/"},
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"},
    )
    assert await victim.who("a") == ALICE[0]  # the app's own form has no CSRF check: its business
    assert await victim.who("b") is None and await victim.who("c") is None


async def test_signing_in_again_rotates_the_session_id(sites: Sites) -> None:
    network, built = sites
    browser = Browser(network)
    name = built["a"].app.cookie_names.session
    await browser.sign_in("a", *ALICE)
    first = browser.client.cookies.get(name, domain="a.example")
    await browser.sign_in("a", *ALICE)
    second = browser.client.cookies.get(name, domain="a.example")
    assert first and second and first != second
    active = await built["a"].stores.sessions.list(user=ALICE[0])
    assert len(active) == 1


async def test_back_channel_refusals_are_uniform_and_never_500(sites: Sites) -> None:
    network, _ = sites
    async with httpx.AsyncClient(transport=network) as client:
        answers = {
            await _post(client, body)
            for body in (b"v1.abc.def", b"v2.abc.def", b"garbage", "v2.é.x".encode(), b"\xff\xfe", b"")
        }
    assert answers == {(400, "refused")}


async def _post(client: httpx.AsyncClient, body: bytes) -> tuple[int, str]:
    response = await client.post("http://b.internal/_sessionsync/backchannel", content=body)
    return response.status_code, response.text


async def test_sign_in_answers_are_never_cached(sites: Sites) -> None:
    network, _ = sites
    attacker = Browser(network)
    response = await attacker.client.post(
        f"{URLS['a']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"}, follow_redirects=False
    )
    url = response.headers["location"]
    for _ in range(6):
        response = await attacker.client.get(url, follow_redirects=False)
        if "/_sessionsync/" in url:
            assert response.headers.get("cache-control") == "no-store", url
        if not response.is_redirect:
            break
        url = response.headers["location"]


@pytest.fixture(params=["frame", "auto"])
async def frame_sites(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sites]:
    network, built = await make_sites(tmp_path, sync_mode=request.param)
    yield network, built
    for site in built.values():
        await site.app.aclose()


async def test_a_cross_site_image_does_not_end_a_session_in_frame_mode(frame_sites: Sites) -> None:
    network, built = frame_sites
    name = built["c"].app.cookie_names.session
    browser = Browser(network)
    await browser.sign_in("c", *BOB)
    assert await browser.who("c") == BOB[0]
    # An <img src=https://c.example/> on another site: the middleware's SameSite=None
    # cookie comes, C's own Lax cookie does not.
    ours = browser.client.cookies.get(name, domain="c.example")
    assert ours and browser.client.cookies.get("session", domain="c.example")
    async with httpx.AsyncClient(transport=browser.network) as image:
        await image.get(f"{URLS['c']}/", headers={**IMAGE, "cookie": f"{name}={ours}"})
    assert await browser.who("c") == BOB[0]
    await browser.sign_out("c")
    assert await browser.who("c") is None


async def test_frame_mode_never_makes_the_apps_own_cookie_weaker(frame_sites: Sites) -> None:
    network, _ = frame_sites
    browser = Browser(network)
    seen: list[str] = []

    async def spy(request: httpx.Request) -> httpx.Response:
        response = await transport.handle_async_request(request)
        if request.url.host == "c.example":
            seen.extend(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("session="))
        return response

    transport = browser.client._transport
    browser.client._transport = httpx.MockTransport(spy)  # a spy on the real network, not a stand-in
    page = await browser.sign_in("a", *ALICE)
    for url in re.findall(r'<iframe src="([^"]+)"', page.text):
        await browser.get(unescape(url))  # the browser loads each hidden frame
    assert await browser.who("c") == ALICE[0]
    assert seen
    assert all("samesite=none" not in v.lower() for v in seen), seen


async def test_a_peer_cannot_sign_in_a_privileged_account(sites: Sites) -> None:
    network, built = sites
    await built["b"].stores.users.create(User("alice@example.com", "admin", name="Alice the admin"))
    browser = Browser(network)
    await browser.sign_in("a", *ALICE)
    assert await browser.who("a") == ALICE[0]
    assert await browser.who("b") is None
    assert await browser.who("c") == ALICE[0]


async def test_a_sign_in_made_by_a_sibling_subdomains_form_stays_on_that_site() -> None:
    """Issue #20, finding 3: ``Sec-Fetch-Site: same-site`` is a sibling subdomain's page,
    not this site's. Its login form posted to shop (an app without a CSRF check) spread
    as a shared sign-in; only a same-origin request (or a typed navigation) speaks for
    this site, and a sign-in made by anything else stays here, as a cross-site one does."""
    apps = {"shop": login_app("shop", dict([ALICE]), csrf_check=False), "blog": login_app("blog", {})}
    urls = {"shop": "https://shop.example.com", "blog": "https://blog.example.com"}
    async with SiteNetwork(apps, urls=urls) as net:
        victim = net.browser()
        sibling = "https://forum.example.com/win"  # any host under example.com, a member or not
        fields = {"email": ALICE[0], "password": ALICE[1], "next": "/"}
        await victim.submit(f"{urls['shop']}/login", fields, from_page=sibling)
        assert await victim.everyone() == {"shop": ALICE[0], "blog": None}
        [session] = await net.sites["shop"].site.stores.sessions.list(user=ALICE[0])
        assert session.via == "same-site login"
        # The same form on shop's own page spreads.
        own = net.browser()
        form = await own.get(f"{urls['shop']}/login")
        await own.submit(f"{urls['shop']}/login", fields, from_page=form)
        assert await own.everyone() == {"shop": ALICE[0], "blog": ALICE[0]}


@pytest.mark.parametrize(
    ("headers", "local"),
    [
        ({"sec-fetch-site": "same-origin", "origin": "https://shop.example.com"}, True),
        ({"sec-fetch-site": "same-origin"}, True),
        ({"sec-fetch-site": "none"}, True),  # typed, a bookmark
        ({}, True),  # no Fetch Metadata, no Origin: not a browser's cross-origin request
        ({"origin": "https://shop.example.com"}, True),
        ({"sec-fetch-site": "same-site", "origin": "https://forum.example.com"}, False),
        ({"sec-fetch-site": "same-site"}, False),
        ({"sec-fetch-site": "cross-site"}, False),
        ({"sec-fetch-site": "none", "origin": "https://evil.example"}, False),
        ({"origin": "https://forum.example.com"}, False),
        ({"origin": "null"}, False),
    ],
)
def test_only_a_same_origin_request_speaks_for_this_site(headers: dict[str, str], local: bool) -> None:
    scope = {"headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    assert fetch_metadata(scope).is_same_origin("https://shop.example.com") is local
