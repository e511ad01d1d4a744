"""What a person sees when a sign-in step is refused for a configuration mismatch (#16):
plain words about the two sites, never "tampering"."""

from __future__ import annotations

from asgi_sessionsync.envelope import seal
from asgi_sessionsync.keys import KeyRing, generate_secret, parse_secret
from asgi_sessionsync.protocol import Purpose
from tests.sites import URLS, Browser, Sites

NOT_SET_UP = "The site that sent you here is not set up to share sign-in with this one"


def hop_from(issuer: str, ring: KeyRing) -> str:
    token = seal(
        ring,
        Purpose.HOP,
        issuer=issuer,
        audience=URLS["b"],
        subject="alice@example.com",
        ttl=30,
        ip="203.0.113.0/24",
        extra={"b": b"0123456789abcdef", "c": "chain", "n": "", "o": None, "w": None, "m": "page"},
    )
    return f"{URLS['b']}/_sessionsync/hop?e={token}"


async def test_a_hop_sealed_with_another_key_says_the_sites_do_not_share_sign_in(sites: Sites) -> None:
    network, _ = sites
    browser = Browser(network)
    other = KeyRing([parse_secret(generate_secret(), variable="test")], network="default")
    response = await browser.get(hop_from(URLS["a"], other))
    assert response.status_code == 400
    assert NOT_SET_UP in response.text and "tamper" not in response.text.lower()
    assert "Nobody was signed in" in response.text


async def test_a_hop_from_a_site_that_is_not_a_peer_says_so(sites: Sites) -> None:
    network, built = sites
    ring = built["a"].app.site.tokens.home_ring  # the right key, but an issuer b does not list
    response = await Browser(network).get(hop_from("https://stranger.example", ring))
    assert response.status_code == 400 and NOT_SET_UP in response.text


async def test_a_pull_naming_a_site_that_is_not_a_peer_says_so(sites: Sites) -> None:
    network, _ = sites
    response = await Browser(network).get(f"{URLS['b']}/_sessionsync/pull?i=https%3A%2F%2Fstranger.example&k=x")
    assert response.status_code == 400 and NOT_SET_UP in response.text


async def test_a_damaged_link_still_says_it_is_not_valid(sites: Sites) -> None:
    network, _ = sites
    response = await Browser(network).get(f"{URLS['b']}/_sessionsync/hop?e=not-an-envelope")
    assert response.status_code == 400 and "This sign-in link is not valid" in response.text
