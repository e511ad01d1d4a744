"""Each way a sign-in hop can be abused is refused, and never with a 500."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx

from asgi_sessionsync.envelope import seal
from asgi_sessionsync.protocol import Purpose
from tests.constants import ALICE
from tests.sites import URLS, Browser, InProcessNetwork, Site, Sites, hidden_fields


async def first_hop(network: InProcessNetwork) -> tuple[Browser, str]:
    """Sign alice in on A and follow the chain up to B's hop (B's pull, then A's
    authorize); return the browser, which holds B's bind cookie, and the unused hop URL."""
    browser = Browser(network)
    form = await browser.get(f"{URLS['a']}/login")
    fields = {**hidden_fields(form), "email": ALICE[0], "password": ALICE[1], "next": "/"}
    response = await browser.submit(f"{URLS['a']}/login", fields, from_page=form, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{URLS['b']}/_sessionsync/pull?")
    for _ in range(2):
        response = await browser.client.get(location, follow_redirects=False)
        location = response.headers["location"]
    assert location.startswith(f"{URLS['b']}/_sessionsync/hop?e=v2.")
    return browser, location


def forged_hop(site_a: Site, *, return_url: str, issued: float | None = None, ip: str = "203.0.113.0/24") -> str:
    """A hop sealed with site A's real keys, as A would make it (or as a thief would replay it)."""
    site = site_a.app.site
    token = seal(
        site.tokens.home_ring,
        Purpose.HOP,
        issuer=URLS["a"],
        audience=URLS["b"],
        subject=ALICE[0],
        ttl=site.settings.hop_lifetime,
        ip=ip,
        extra={"b": b"0123456789abcdef", "c": "chain-x", "n": "", "o": return_url, "w": None, "m": "page"},
        now=issued,
    )
    return f"{URLS['b']}/_sessionsync/hop?e={token}"


async def test_replayed_hop_is_skipped_and_signs_nobody_in(sites: Sites) -> None:
    network, _ = sites
    victim, hop = await first_hop(network)
    await victim.get(hop)  # the victim's browser walks the chain
    assert await victim.who("b") == ALICE[0]
    thief = Browser(network)  # same address: the IP binding does not stop this one
    response = await thief.get(hop)
    assert response.status_code == 200 and str(response.url) == f"{URLS['a']}/"
    assert await thief.who("b") is None and await thief.who("c") is None


async def test_hop_from_another_ip_is_refused_and_stays_usable_by_its_owner(sites: Sites) -> None:
    network, _ = sites
    victim, hop = await first_hop(network)
    thief = Browser(network, ip="198.51.100.66")
    await thief.get(hop)
    assert await thief.who("b") is None and await thief.who("c") is None
    await victim.get(hop)
    assert await victim.who("b") == ALICE[0] and await victim.who("c") == ALICE[0]


async def test_tampered_hop_ends_on_a_clear_error_page_not_a_500(sites: Sites) -> None:
    network, built = sites
    browser, hop = await first_hop(network)
    token = parse_qs(urlsplit(hop).query)["e"][0]
    index = len(token) // 2
    tampered = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    response = await browser.client.get(f"{URLS['b']}/_sessionsync/hop", params={"e": tampered})
    assert response.status_code == 400
    assert "This sign-in link is not valid" in response.text
    assert "Traceback" not in response.text and tampered not in response.text
    assert "sessionsync=" not in response.headers.get("set-cookie", "")
    assert await built["b"].stores.sessions.list(user=ALICE[0], include_ended=True) == []


async def test_expired_hop_is_skipped_without_breaking_the_chain(sites: Sites) -> None:
    network, built = sites
    browser = Browser(network)
    hop = forged_hop(built["a"], return_url=f"{URLS['a']}/account", issued=time.time() - 120)
    response = await browser.client.get(hop, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{URLS['a']}/account"
    assert await browser.who("b") is None


async def test_return_url_to_a_foreign_origin_is_never_followed(sites: Sites) -> None:
    network, built = sites
    browser = Browser(network)
    hop = forged_hop(built["a"], return_url="https://evil.example/steal")
    response = await browser.client.get(hop, follow_redirects=False)
    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).netloc == "b.example"


async def test_return_url_on_another_member_than_the_issuer_is_refused(sites: Sites) -> None:
    network, built = sites
    browser = Browser(network)
    hop = forged_hop(built["a"], return_url=f"{URLS['c']}/somewhere")
    response = await browser.client.get(hop, follow_redirects=False)
    assert urlsplit(response.headers["location"]).netloc == "b.example"


async def test_hop_sealed_for_another_site_is_refused_on_this_one(sites: Sites) -> None:
    network, built = sites
    browser, hop = await first_hop(network)
    token = parse_qs(urlsplit(hop).query)["e"][0]
    response = await browser.client.get(f"{URLS['c']}/_sessionsync/hop", params={"e": token})
    assert response.status_code == 400
    assert await built["c"].stores.sessions.list(user=ALICE[0], include_ended=True) == []


async def test_garbage_and_missing_hop_parameters_get_400_pages(sites: Sites) -> None:
    network, _ = sites
    browser = Browser(network)
    for params in ({}, {"e": ""}, {"e": "v1.x.y"}, {"e": "\x00" * 50}, {"e": "v1." + "A" * 20000}):
        response = await browser.client.get(f"{URLS['b']}/_sessionsync/hop", params=params)
        assert response.status_code == 400, params


async def test_forged_backchannel_message_is_refused(sites: Sites) -> None:
    network, _ = sites
    async with httpx.AsyncClient(transport=network) as client:
        response = await client.post("http://b.internal/_sessionsync/backchannel", content=b"v1.abc.def")
    assert response.status_code == 400
    assert response.text == "refused"  # one answer for every refusal: a prober learns nothing


async def test_logout_is_a_post_only_endpoint_and_the_middleware_endpoints_refuse_other_methods(sites: Sites) -> None:
    network, _ = sites
    browser = Browser(network)
    response = await browser.client.post(f"{URLS['b']}/_sessionsync/hop")
    assert response.status_code == 405
    response = await browser.client.get(f"{URLS['b']}/_sessionsync/backchannel")
    assert response.status_code == 405


async def test_hop_responses_are_not_cached_and_send_no_referrer(sites: Sites) -> None:
    network, _ = sites
    browser, hop = await first_hop(network)
    response = await browser.client.get(hop, follow_redirects=False)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
