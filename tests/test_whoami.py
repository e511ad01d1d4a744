"""The CORS who-am-I endpoint (#26): ``GET /_sessionsync/whoami`` answers a page of the
network's sites, with credentials, who is signed in here (public identity only); any
other origin is refused; the preflight too. In process (three sites); the browser case
is in ``tests/e2e/test_browser_whoami.py``."""

from __future__ import annotations

import httpx

from tests.constants import ALICE
from tests.sites import URLS, Browser, Sites

WHOAMI = "/_sessionsync/whoami"


def from_page(origin: str, site: str = "same-site") -> dict[str, str]:
    """What a browser sends with a fetch from a page of ``origin`` (Fetch Metadata too)."""
    return {"origin": origin, "sec-fetch-site": site, "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"}


async def test_a_network_origin_reads_the_signed_in_user_with_credentials(sites: Sites, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    answer = await browser.client.get(f"{URLS['a']}{WHOAMI}", headers=from_page(URLS["b"]))
    assert answer.status_code == 200
    assert answer.json() == {"site": URLS["a"], "signed_in": True, "email": ALICE[0], "name": answer.json()["name"]}
    assert answer.headers["access-control-allow-origin"] == URLS["b"]
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "origin" in answer.headers["vary"].lower() and answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"] == "application/json"
    text = answer.text
    values = [c.value for c in browser.client.cookies.jar if c.value is not None and len(c.value) >= 16]
    assert values and not [v for v in values if v in text]  # no cookie, token or session id
    assert "role" not in answer.json() and "sid" not in text


async def test_another_origin_is_refused_and_told_nothing(sites: Sites, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    for origin in ("https://evil.example", "https://b.example.evil", "http://b.example", "null"):
        answer = await browser.client.get(f"{URLS['a']}{WHOAMI}", headers=from_page(origin, "cross-site"))
        assert answer.status_code == 403, origin
        assert "access-control-allow-origin" not in answer.headers and ALICE[0] not in answer.text
        preflight = await browser.client.request(
            "OPTIONS", f"{URLS['a']}{WHOAMI}", headers={"origin": origin, "access-control-request-method": "GET"}
        )
        assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers


async def test_the_preflight_of_a_network_origin_allows_get_with_credentials(sites: Sites) -> None:
    network, _ = sites
    async with httpx.AsyncClient(transport=network) as client:
        preflight = await client.request(
            "OPTIONS",
            f"{URLS['a']}{WHOAMI}",
            headers={
                "origin": URLS["c"],
                "access-control-request-method": "GET",
                "access-control-request-headers": "accept",
            },
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == URLS["c"]
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert preflight.headers["access-control-allow-methods"] == "GET"
    assert "accept" in preflight.headers["access-control-allow-headers"]


async def test_nobody_signed_in_is_said_only_when_the_cookie_could_have_come(sites: Sites, browser: Browser) -> None:
    same_site = await browser.client.get(f"{URLS['a']}{WHOAMI}", headers=from_page(URLS["b"]))
    assert same_site.json() == {"site": URLS["a"], "signed_in": False}
    # Cross-site, a SameSite=Lax session cookie never comes: unknown, not "signed out".
    await browser.sign_in("a", *ALICE)
    browser.client.cookies.clear()
    cross = await browser.client.get(f"{URLS['a']}{WHOAMI}", headers=from_page(URLS["b"], "cross-site"))
    assert cross.status_code == 200
    body = cross.json()
    assert body["signed_in"] is None and "SameSite=Lax" in body["why"]
    own = await browser.client.get(f"{URLS['a']}{WHOAMI}")  # this site's own page, no Origin
    assert own.json()["signed_in"] is False and "access-control-allow-origin" not in own.headers
