"""Cookie tossing from a sibling subdomain (issue #20, finding 1).

A host under the same registrable domain (``evil.example.com`` beside
``shop.example.com``) may set a cookie with ``Domain=example.com``: the browser sends it to
every sibling, before the sibling's own cookie of the same name when it is older or has a
longer ``Path``. The middleware read the first cookie of a name, and none of its names
had a prefix: a sibling planted the attacker's bind cookie (and session cookie) in the
victim's browser, and the victim was signed in as the attacker; the victim's own sync
broke on every sibling, whose hop read the planted bind cookie instead of its own.

Fixed at the mechanism: every cookie the middleware writes is named ``__Host-…`` where it
qualifies (https, ``Secure``, no ``Domain``, ``Path=/``): a browser keeps such a cookie only
when the host itself set it, host-only, so no sibling can plant or shadow it. Where names
cannot be prefixed (plain http) a request with two cookies of one of the middleware's
names is refused: a sign-in step answers a 400 page, an ordinary page trusts neither and
concludes nothing. Each test failed before the fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from asgi_sessionsync.cookies import CookieNames
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.testing import Browser, SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE, BOB

FORUM_SECRET = "forum-own-session-secret"
SECRET = generate_secret()
PARENT = "example.com"
NAMES = ("shop", "blog", "forum")


class EvilSibling:
    """``evil.example.com``: a page that sets the cookies a test gives it (``tossed``), as
    ``Set-Cookie`` headers of its own answer."""

    def __init__(self) -> None:
        self.tossed: list[str] = []

    async def page(self, request: Request) -> Response:
        response = HTMLResponse("<!doctype html><html><body><h1>Cute cats</h1></body></html>")
        for cookie in self.tossed:
            response.headers.append("set-cookie", cookie)
        return response

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.page)])


def siblings(scheme: str, evil: EvilSibling) -> SiteNetwork:
    """Three sites on sibling hosts of example.com (shop: alice; blog: no accounts; forum: a
    ``request.session`` app, bob), and the attacker's sibling, evil.example.com."""
    urls = {n: f"{scheme}://{n}.{PARENT}" for n in NAMES}
    apps = {
        "shop": login_app("shop", dict([ALICE]), csrf_check=False),
        "blog": login_app("blog", {}, csrf_check=False),
        "forum": session_login_app("forum", dict([BOB]), secret_key=FORUM_SECRET, csrf_check=False),
    }
    net = SiteNetwork(
        apps,
        urls=urls,
        site_settings={"forum": {"identity": "starlette-session", "app_session_secret": FORUM_SECRET}},
    )
    net.network.add([f"evil.{PARENT}"], evil.app(), name="evil")
    return net


@pytest.fixture
def evil() -> EvilSibling:
    return EvilSibling()


@pytest.fixture
async def https(evil: EvilSibling) -> AsyncIterator[SiteNetwork]:
    async with siblings("https", evil) as net:
        yield net


@pytest.fixture
async def http(evil: EvilSibling) -> AsyncIterator[SiteNetwork]:
    async with siblings("http", evil) as net:
        yield net


async def captured(net: SiteNetwork) -> tuple[str, dict[str, str]]:
    """The attacker signs in as alice on shop in a browser of their own and walks the sync
    chain up to blog's hop, which they keep unused. The hop URL, and the attacker's own
    cookies of the middleware (blog's bind cookie, shop's session cookie), by site."""
    attacker = net.browser()
    response = await attacker.client.post(
        f"{net.urls['shop']}/login", data={"email": ALICE[0], "password": ALICE[1], "next": "/"}, follow_redirects=False
    )
    url = response.headers["location"]
    for _ in range(10):
        if url.startswith(f"{net.urls['blog']}/_sessionsync/hop?"):
            break
        response = await attacker.client.get(url, follow_redirects=False)
        assert response.is_redirect, (url, response.status_code, response.text[:300])
        url = str(response.url.join(response.headers["location"]))
    else:
        raise AssertionError("the chain never reached blog's hop")
    kept = {
        "bind": value_of(attacker, "blog", "sessionsync-bind"),
        "session": value_of(attacker, "shop", "sessionsync"),
    }
    return url, kept


def value_of(browser: Browser, site: str, name: str) -> str:
    """The value of the middleware's cookie ``name`` (whatever its prefix) on ``site``."""
    found = [
        c.value
        for c in browser.cookies
        if c.domain == f"{site}.{PARENT}" and c.name in (name, f"__Host-{name}", f"__Secure-{name}")
    ]
    assert len(found) == 1, (site, name, [(c.name, c.domain) for c in browser.cookies])
    return found[0]


async def headings(net: SiteNetwork, browser: Browser) -> dict[str, str]:
    """The heading of each site's home page, opened in turn (typed)."""
    found = {}
    for name in NAMES:
        text = (await browser.get(f"{net.urls[name]}/")).text
        match = re.search(r"<h1>([^<]*)</h1>", text)
        found[name] = match.group(1) if match else text[:200]
    return found


def toss(names: Sequence[str], value: str, *, path: str = "/", secure: bool = True) -> list[str]:
    """``Set-Cookie`` values for the parent domain, one per name."""
    attributes = f"Domain={PARENT}; Path={path}; SameSite=Lax" + ("; Secure" if secure else "")
    return [f"{name}={value}; {attributes}" for name in names]


def old_and_new(base: str) -> tuple[str, ...]:
    """A name of the middleware, unprefixed (as before the fix) and with both prefixes."""
    return (base, f"__Host-{base}", f"__Secure-{base}")


async def test_on_https_every_cookie_the_middleware_writes_is_host_prefixed(https: SiteNetwork) -> None:
    seen: set[str] = set()
    browser = https.browser()
    transport = browser.client._transport

    async def spy(request: httpx.Request) -> httpx.Response:
        response = await transport.handle_async_request(request)
        seen.update(v.split("=", 1)[0] for v in response.headers.get_list("set-cookie"))
        return response

    browser.client._transport = httpx.MockTransport(spy)  # a spy on the real network
    await browser.get(f"{https.urls['blog']}/")  # the first visit's catch-up: bind and seen cookies
    await browser.sign_in("shop", *ALICE)  # session, bind, and the chain's hops
    assert await browser.everyone() == dict.fromkeys(NAMES, ALICE[0])
    await browser.sign_out("blog")
    ours = seen - {"kit-csrf", "session"}  # the apps' own cookies keep the apps' names
    assert ours, seen
    assert all(name.startswith("__Host-sessionsync") for name in ours), ours
    assert {c.name for c in browser.cookies if c.name.startswith("sessionsync")} == set()


async def test_a_sibling_subdomain_tossing_cookies_signs_nobody_in_and_the_victims_sync_still_works(
    https: SiteNetwork, evil: EvilSibling
) -> None:
    hop, kept = await captured(https)
    # evil.example.com plants the attacker's bind cookie (for blog) and session cookie (for
    # shop) in the victim's browser, for the whole parent domain, under the middleware's
    # names as they were and as they are now.
    evil.tossed = [
        *toss(old_and_new("sessionsync-bind"), kept["bind"]),
        *toss(old_and_new("sessionsync"), kept["session"]),
    ]
    victim = https.browser()  # at the same address as the attacker: NAT, an office, a café
    page = await victim.get(f"https://evil.{PARENT}/")
    planted = {(c.name, c.domain) for c in victim.cookies}
    assert ("sessionsync-bind", PARENT) in planted and ("__Secure-sessionsync", PARENT) in planted
    assert not any(name.startswith("__Host-") for name, _ in planted)  # no browser keeps those from a sibling
    await victim.get(hop, from_page=page)  # the attacker's page sends the victim on to the captured hop
    assert await headings(https, victim) == dict.fromkeys(NAMES, "Not signed in")
    # The victim's own sign-in still reaches every sibling, the planted cookies in place.
    await victim.sign_in("forum", *BOB)
    assert await headings(https, victim) == dict.fromkeys(NAMES, f"Signed in as {BOB[0]}")


async def test_a_sign_in_step_with_two_cookies_of_one_name_is_refused_and_signs_nobody_in(
    http: SiteNetwork, evil: EvilSibling
) -> None:
    """Plain http: no prefix is possible. The victim holds a bind cookie of its own on blog
    (its first visit asked the peers); the attacker's, planted with a longer ``Path``, is
    sent first. The hop must not pick either."""
    bind = "sessionsync-bind"  # http names are unprefixed (the demo's contract)
    hop, kept = await captured(http)
    victim = http.browser()
    # The first visit's catch-up sets the victim's own bind cookie (here still in flight).
    await victim.get(f"{http.urls['blog']}/", follow_redirects=False)
    assert value_of(victim, "blog", bind) != kept["bind"]
    evil.tossed = toss([bind], kept["bind"], path="/_sessionsync/", secure=False)
    page = await victim.get(f"http://evil.{PARENT}/")
    answer = await victim.get(hop, from_page=page, follow_redirects=False)
    assert await http.sites["blog"].site.stores.sessions.list(user=ALICE[0], include_ended=True) == []
    assert answer.status_code == 400
    assert "two cookies" in answer.text


async def test_a_page_with_two_session_cookies_trusts_neither_and_concludes_nothing(
    http: SiteNetwork, evil: EvilSibling, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "asgi_sessionsync")
    shop = http.sites["shop"].site
    session = "sessionsync"
    _, kept = await captured(http)  # alice's own session cookie on shop, in the attacker's hands
    victim = http.browser()
    await victim.sign_in("forum", *BOB)
    assert await victim.everyone() == dict.fromkeys(NAMES, BOB[0])
    # Planted with a longer Path: on /account the attacker's session cookie comes first.
    evil.tossed = toss([session], kept["session"], path="/account", secure=False)
    await victim.get(f"http://evil.{PARENT}/")
    for _ in range(2):
        account = await victim.get(f"{http.urls['shop']}/account")
        assert "Account of" not in account.text  # neither alice's nor bob's: not signed in here
    # Nothing was concluded: bob's session on shop is still active, nobody was signed out.
    assert [s.user for s in await shop.stores.sessions.list(user=BOB[0])] == [BOB[0]]
    assert await victim.who("forum") == BOB[0]
    warnings = [r.getMessage() for r in caplog.records if "two cookies" in r.getMessage()]
    assert len(warnings) == 1, warnings  # rate-limited
    assert kept["session"] not in caplog.text
    victim.cookies.delete(session, domain=PARENT)
    assert "Account of bob@example.com" in (await victim.get(f"{http.urls['shop']}/account")).text


def names_for(**options: object) -> CookieNames:
    settings = Settings.from_env({}, env_file=None, secret_keys=[SECRET], store="memory://", **options)
    return CookieNames.from_settings(settings)


def test_cookie_names_are_host_prefixed_where_they_qualify_and_unchanged_on_http() -> None:
    https_names = names_for(site_url="https://shop.example.com")
    assert (https_names.session, https_names.pending, https_names.seen, https_names.bind, https_names.held) == (
        "__Host-sessionsync",
        "__Host-sessionsync-sync",
        "__Host-sessionsync-seen",
        "__Host-sessionsync-bind",
        "__Host-sessionsync-held",
    )
    # The demo's names over http stay as they were (a public contract).
    for url in ("http://a.localhost:8001", "http://shop.example.com"):
        assert names_for(site_url=url).session == "sessionsync"
    # Secure but not host-only or not at Path=/: __Secure- (a sibling under the Domain can
    # still set such a cookie: the duplicate check is what is left).
    shop = "https://shop.example.com"
    assert names_for(site_url=shop, cookie_domain="example.com").bind == "__Secure-sessionsync-bind"
    assert names_for(site_url=shop, cookie_path="/shop").session == "__Secure-sessionsync"
    # Not Secure at all (asked for on https): no prefix is possible.
    assert names_for(site_url="https://shop.example.com", cookie_secure="false").session == "sessionsync"
    assert names_for(site_url="https://shop.example.com", cookie_name="sso").seen == "__Host-sso-seen"


def test_a_cookie_name_given_with_a_prefix_is_refused() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        Settings.from_env({"SESSIONSYNC_COOKIE_NAME": "__Host-sso"}, env_file=None)


def test_finding_a_duplicate_is_exact_and_cheap() -> None:
    names = names_for(site_url="http://shop.example.com")
    assert names.duplicated(b"sessionsync=a; sessionsync-seen=1") is None
    assert names.duplicated(b"sessionsync=a; other=1; sessionsync=b") == "sessionsync"
    assert names.duplicated(b"sessionsync-bind=a;sessionsync-bind=b") == "sessionsync-bind"
    # Names that merely contain one of ours, or values that do, are not ours.
    assert names.duplicated(b"mysessionsync=a; sessionsync=b; x=sessionsync") is None
    assert names.duplicated(b"sessionsync=a; __Host-sessionsync=b") is None
