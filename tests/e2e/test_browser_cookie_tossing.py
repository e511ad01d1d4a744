"""Cookie tossing from a sibling subdomain, in Chromium over real TLS (issue #20, finding 1).

The demo's three sites are served over https as sibling hosts of one registrable domain,
``shop.sso.test`` (A, alice), ``blog.sso.test`` (B) and ``forum.sso.test`` (C, bob), and
the attacker has another sibling, ``https://evil.sso.test``. Chromium reaches all four at
127.0.0.1 through ``--host-resolver-rules`` (the URLs keep their ports) and trusts the
throwaway CA that issued their certificate by its key alone
(``--ignore-certificate-errors-spki-list``; not ``--ignore-certificate-errors``).

A sibling may set cookies for the parent domain (``Domain=sso.test``), and Chromium sends
an older or longer-path cookie first. Before the fix the middleware's cookies had no
prefix and the first of two same-named cookies won: the attacker planted their own bind
cookie (for B) and session cookie (for A) in the victim's browser and sent the victim to
a sign-in hop captured in their own client; the victim was signed in as the attacker,
and the victim's own sign-in no longer synced to the siblings. With ``__Host-`` names no
sibling can set or shadow the middleware's cookies, and the planted ones are ignored.
"""

from __future__ import annotations

import html
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.constants import ALICE, BOB
from tests.e2e.attacker import EvilSite, evil_site
from tests.e2e.browser import screenshots, settle, sign_in
from tests.e2e.harness import Demo, Tls, require_chromium, run_demo

DOMAIN = "sso.test"
HOSTS = (f"shop.{DOMAIN}", f"blog.{DOMAIN}", f"forum.{DOMAIN}")
EVIL = f"evil.{DOMAIN}"
RESOLVE = f"--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1"


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return Tls.make(tmp_path, (*HOSTS, EVIL))


@pytest.fixture
def siblings(tmp_path: Path, tls: Tls) -> Iterator[Demo]:
    require_chromium()
    with run_demo(tmp_path, mode="bounce", tls=tls, hosts=HOSTS) as demo:
        yield demo


@pytest.fixture
def evil(tls: Tls) -> Iterator[EvilSite]:
    with evil_site(EVIL, tls) as site:
        yield site


@pytest.fixture
def resolve_siblings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's own client (this process) finds the siblings at 127.0.0.1, as
    Chromium does by its host resolver rules."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith("." + DOMAIN):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def ours(name: str, base: str) -> bool:
    """Whether ``name`` is the middleware's cookie ``base``, prefixed or not."""
    return name in (base, f"__Host-{base}", f"__Secure-{base}")


def attackers_captured_hop(demo: Demo, tls: Tls) -> tuple[str, dict[str, str]]:
    """The attacker signs in as alice on A with a client of their own (at the victim's
    address, 127.0.0.1) and follows the sync chain up to B's hop, which they keep unused.
    The hop, and the attacker's own cookies of the middleware: B's bind cookie, A's
    session cookie."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca)), timeout=10) as attacker:
        form = attacker.get(demo.url("a", "/login?next=/account"))
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text[:500]
        fields = {"email": ALICE[0], "password": ALICE[1], "next": "/account", "csrf": html.unescape(token.group(1))}
        response = attacker.post(demo.url("a", "/login"), data=fields)
        url = response.headers["location"]
        for _ in range(10):
            if url.startswith(demo.url("b", "/_sessionsync/hop?")):
                break
            response = attacker.get(url)
            assert response.is_redirect, (url, response.status_code)
            url = str(response.url.join(response.headers["location"]))
        else:
            raise AssertionError("the attacker's chain never reached B's hop")
        jar = list(attacker.cookies.jar)
    bind = [c.value for c in jar if c.domain == demo.hosts["b"] and ours(c.name, "sessionsync-bind")]
    session = [c.value for c in jar if c.domain == demo.hosts["a"] and ours(c.name, "sessionsync")]
    assert len(bind) == 1 and len(session) == 1 and bind[0] and session[0], [(c.name, c.domain) for c in jar]
    return url, {"sessionsync-bind": bind[0], "sessionsync": session[0]}


def tossed(kept: dict[str, str]) -> list[str]:
    """The attacker's cookies for the whole parent domain, under the middleware's names
    as they were and with both prefixes (a browser refuses ``__Host-`` with a Domain)."""
    cookies = []
    for base, value in kept.items():
        for name in (base, f"__Host-{base}", f"__Secure-{base}"):
            cookies.append(f"{name}={value}; Domain={DOMAIN}; Path=/; Secure; HttpOnly; SameSite=Lax")
    return cookies


def headings(context: Any, demo: Demo) -> dict[str, str]:
    """The heading of each site's home page (a new tab each), whatever it says."""
    found = {}
    for name in "abc":
        tab = context.new_page()
        try:
            tab.goto(demo.url(name))
            found[name] = tab.locator("h1").first.inner_text()
        finally:
            tab.close()
    return found


def planted(context: Any) -> set[tuple[str, str]]:
    return {(c["name"], c["domain"]) for c in context.cookies() if c["domain"] == "." + DOMAIN}


@pytest.mark.usefixtures("resolve_siblings")
def test_a_sibling_subdomain_cannot_sign_the_victim_in_as_the_attacker_nor_break_the_victims_sync(
    siblings: Demo, evil: EvilSite, tls: Tls, open_browser: Callable[..., Any]
) -> None:
    demo = siblings
    hop, kept = attackers_captured_hop(demo, tls)
    evil.cookies["/cats"] = tossed(kept)
    evil.pages["/cats"] = f'<h1>Cats</h1><meta http-equiv="refresh" content="0;url={html.escape(hop)}">'

    victim = open_browser(third_party_cookies=True, args=[RESOLVE, *tls.chromium_args])
    page = victim.new_page()
    page.goto(evil.url("/cats"))
    page.wait_for_url(re.compile(r"^https://(shop|blog|forum)\." + re.escape(DOMAIN)))
    page.wait_for_load_state("networkidle")
    found = planted(victim)
    # The attack was delivered: the unprefixed and __Secure- cookies are in the victim's
    # browser for the whole parent domain; no __Host- cookie could be.
    assert ("sessionsync-bind", "." + DOMAIN) in found and ("sessionsync", "." + DOMAIN) in found, found
    assert ("__Secure-sessionsync-bind", "." + DOMAIN) in found, found
    assert not any(name.startswith("__Host-") for name, _ in found), found

    assert headings(victim, demo) == dict.fromkeys("abc", "Not signed in")
    screenshots(victim, demo, "attack-cookie-tossing-https-after-the-hop")
    # The victim's own sign-in on C still reaches A and B, the planted cookies in place.
    sign_in(page, demo, "c", *BOB)
    everyone_bob = dict.fromkeys("abc", BOB[0])
    assert settle(victim, demo, everyone_bob) == everyone_bob
    assert planted(victim) == found
    screenshots(victim, demo, "attack-cookie-tossing-https-victims-sign-in")
