"""Sub-folder sites of one origin (issue #26, User Session Synchronizer 1.2): ``example.com/shop``
and ``example.com/blog`` as two sites of a network, beside a site on another origin.

A site is named by its origin and path (sealed messages, the network file, trust rules,
the activity log), its cookies are scoped to its path and, beside a peer on its origin,
of names of its own; its endpoints live below its path, and it acts on nothing else.
Each test here failed on the code before sub-folder sites (``is this site itself``, or a
site named by its origin alone)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.cli.peers import Status, check_peers
from asgi_sessionsync.exceptions import ConfigError, ConfigErrors, EnvelopeError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.protocol import Purpose
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import User, memory_stores
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import safe_return
from tests.cli import run_cli
from tests.constants import ALICE, BOB

KEY = generate_secret()
SHOP, BLOG, C = "https://example.com/shop", "https://example.com/blog", "https://c.example"


def shop_env(**extra: str) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": SHOP,
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_PEERS": f"{BLOG}, {C}",
        "SESSIONSYNC_STORE": "memory://",
        **extra,
    }


def problems(env: dict[str, str]) -> dict[str, str]:
    """Each variable the settings refuse, with its error's text."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env, env_file=None)
    errors = raised.value.errors if isinstance(raised.value, ConfigErrors) else [raised.value]
    return {error.variable: str(error) for error in errors}


# --- configuration ----------------------------------------------------------------------


def test_two_sub_folder_sites_of_one_origin_are_peers_named_by_their_paths() -> None:
    settings = Settings.from_env(shop_env(), env_file=None)
    assert settings.origin == "https://example.com" and settings.site_id == SHOP
    assert [peer.site_id for _, peer in settings.peers()] == [BLOG, C]
    assert [peer.url for peer in settings.same_origin_peers()] == [BLOG]
    # Its cookies at its own path, of names of its own (the root site's would reach here).
    assert settings.cookie_path == "/shop" and settings.cookie_name == "sessionsync_shop"


def test_a_root_site_beside_sub_folder_sites_keeps_its_names_at_path_slash() -> None:
    settings = Settings.from_env(shop_env(SESSIONSYNC_SITE_URL="https://example.com"), env_file=None)
    assert settings.site_id == "https://example.com" and settings.cookie_path == "/"
    assert settings.cookie_name == "sessionsync"


def test_a_site_with_a_path_and_no_peer_on_its_origin_scopes_its_cookies_by_it() -> None:
    env = shop_env(SESSIONSYNC_PEERS=C)
    settings = Settings.from_env(env, env_file=None)
    assert (settings.cookie_path, settings.cookie_name) == ("/shop", "sessionsync")
    # The old default, kept on purpose: allowed while no peer shares the origin.
    assert Settings.from_env({**env, "SESSIONSYNC_COOKIE_PATH": "/"}, env_file=None).cookie_path == "/"


@pytest.mark.parametrize(
    ("extra", "variable", "problem"),
    [
        ({"SESSIONSYNC_PEERS": f"{SHOP}/, {C}"}, "SESSIONSYNC_PEERS", "is this site itself"),
        ({"SESSIONSYNC_PEERS": f"{BLOG}, {BLOG}/"}, "SESSIONSYNC_PEERS", "is named twice"),
        ({"SESSIONSYNC_COOKIE_PATH": "/"}, "SESSIONSYNC_COOKIE_PATH", "scoped to its own path"),
        ({"SESSIONSYNC_COOKIE_PATH": "/shop/cart"}, "SESSIONSYNC_COOKIE_PATH", "is not this site's path"),
        ({"SESSIONSYNC_COOKIE_PATH": "/sh op"}, "SESSIONSYNC_COOKIE_PATH", "not a plain path"),
        ({"SESSIONSYNC_SITE_URL": "https://example.com/a/../shop"}, "SESSIONSYNC_SITE_URL", "not plain"),
        ({"SESSIONSYNC_SITE_URL": "https://example.com/sh;op"}, "SESSIONSYNC_SITE_URL", "not plain"),
        ({"SESSIONSYNC_PEERS": "https://example.com/bl og"}, "SESSIONSYNC_PEERS", "not plain"),
        # Two sub-folder sites whose default names would be one: one must be renamed.
        (
            {"SESSIONSYNC_SITE_URL": "https://example.com/a/b", "SESSIONSYNC_PEERS": "https://example.com/a.b"},
            "SESSIONSYNC_COOKIE_NAME",
            "give one of the two sites a name of its own",
        ),
        # The origin where sub-folder peers live names none of them.
        (
            {"SESSIONSYNC_TRUSTED_FOR_PRIVILEGED": "https://example.com"},
            "SESSIONSYNC_TRUSTED_FOR_PRIVILEGED",
            "each trusted by its own URL",
        ),
    ],
)
def test_what_cannot_work_between_sub_folder_sites_is_refused_naming_the_variable(
    extra: dict[str, str], variable: str, problem: str
) -> None:
    found = problems(shop_env(**extra))
    assert variable in found, found
    assert problem in found[variable]


def test_the_network_file_names_a_sub_folder_peer_by_its_path(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(f'[peers."{BLOG}"]\nlogin = "off"\n[peers."{C}"]\ncreate = "both"\n')
    rules = Settings.from_env(shop_env(SESSIONSYNC_NETWORK_FILE=str(good)), env_file=None).user_sync.network_rules
    assert rules is not None
    assert rules.for_peer(BLOG).direction("login").value == "off"
    assert rules.for_peer(C).direction("login").value == "both"
    origin = tmp_path / "origin.toml"
    origin.write_text('[peers."https://example.com"]\nlogin = "off"\n')
    found = problems(shop_env(SESSIONSYNC_NETWORK_FILE=str(origin)))
    assert "a sub-folder site is named with its path" in found["SESSIONSYNC_NETWORK_FILE"]


def test_config_check_warns_that_sub_folder_sites_of_one_origin_trust_each_other_fully() -> None:
    shared = run_cli("config", "check", env=shop_env())
    assert shared.returncode == 0, shared.stderr
    assert f"WARNING: this site shares its origin https://example.com with {BLOG}" in shared.stderr
    assert "must trust each other fully" in shared.stderr and "Cookie paths are no boundary" in shared.stderr
    assert re.search(r"SESSIONSYNC_COOKIE_PATH +/shop\n", shared.stdout), shared.stdout
    assert "__Secure-sessionsync_shop" in shared.stdout
    alone = run_cli("config", "check", env=shop_env(SESSIONSYNC_PEERS=C))
    assert alone.returncode == 0 and "WARNING" not in alone.stderr


# --- names on the wire and return URLs --------------------------------------------------


def test_a_message_sealed_for_one_sub_folder_site_does_not_open_at_the_other() -> None:
    shop = Tokens(Settings.from_env(shop_env(), env_file=None))
    blog = Tokens(
        Settings.from_env(shop_env(SESSIONSYNC_SITE_URL=BLOG, SESSIONSYNC_PEERS=f"{SHOP},{C}"), env_file=None)
    )
    c = Tokens(Settings.from_env(shop_env(SESSIONSYNC_SITE_URL=C, SESSIONSYNC_PEERS=f"{SHOP},{BLOG}"), env_file=None))
    for_blog = c.seal_for_peer("default", BLOG, Purpose.HOP, subject="a@example.com", ttl=60, ip="", extra={})
    assert blog.open(for_blog, Purpose.HOP, ip=None).issuer == C
    with pytest.raises(EnvelopeError):
        shop.open(for_blog, Purpose.HOP, ip=None)  # one origin, another site: another audience
    from_shop = shop.seal_for_peer("default", BLOG, Purpose.BACKCHANNEL, subject="", ttl=60, ip="", extra={})
    assert blog.open(from_shop, Purpose.BACKCHANNEL, ip=None).issuer == SHOP


def test_a_sub_folder_sites_return_urls_are_below_its_path_only() -> None:
    assert safe_return(f"{SHOP}/cart?x=1", SHOP) == f"{SHOP}/cart?x=1"
    assert safe_return(SHOP, SHOP) == SHOP
    for elsewhere in (f"{BLOG}/", "https://example.com/shopping", "https://example.com/", "https://c.example/shop"):
        assert safe_return(elsewhere, SHOP) is None, elsewhere
    assert safe_return(f"{BLOG}/x", [SHOP, BLOG]) == f"{BLOG}/x"
    assert safe_return("https://example.com/anything", "https://example.com") is not None  # a root site: all


# --- the flows, in process --------------------------------------------------------------


def network(**settings: object) -> SiteNetwork:
    apps = {"shop": login_app("shop", dict([ALICE])), "blog": login_app("blog"), "c": login_app("c", dict([BOB]))}
    return SiteNetwork(apps, urls={"shop": SHOP, "blog": BLOG, "c": C}, settings=dict(settings))


async def test_signed_in_on_shop_is_signed_in_on_blog_and_on_the_other_origin_and_out_everywhere() -> None:
    async with network() as net:
        browser = net.browser()
        await browser.sign_in("shop", *ALICE)
        assert await browser.everyone() == {"shop": ALICE[0], "blog": ALICE[0], "c": ALICE[0]}
        # Each site's cookie at its own path, named its own.
        cookies = {(c.name, c.path) for c in browser.cookies}
        assert ("__Secure-sessionsync_shop", "/shop") in cookies
        assert ("__Secure-sessionsync_blog", "/blog") in cookies
        assert ("__Host-sessionsync", "/") in cookies  # c.example's
        await browser.sign_out("blog")
        assert await browser.everyone() == {"shop": None, "blog": None, "c": None}


async def test_a_sign_in_on_the_other_origin_reaches_both_sub_folder_sites_and_a_sign_out_there_all() -> None:
    async with network() as net:
        browser = net.browser()
        await browser.sign_in("c", *BOB)
        assert await browser.everyone() == {"shop": BOB[0], "blog": BOB[0], "c": BOB[0]}
        await browser.sign_out("shop")
        assert await browser.everyone() == {"shop": None, "blog": None, "c": None}


async def test_sub_folder_sites_in_frame_mode_sign_each_other_in() -> None:
    async with network(sync_mode="auto") as net:
        browser = net.browser(third_party_cookies=False)
        await browser.sign_in("shop", *ALICE)
        assert await browser.everyone() == {"shop": ALICE[0], "blog": ALICE[0], "c": ALICE[0]}


async def test_the_activity_log_and_sessions_name_the_sub_folder_peer_by_its_path() -> None:
    async with network() as net:
        browser = net.browser()
        await browser.sign_in("shop", *ALICE)
        await browser.sign_out("shop")
        activity = net.sites["blog"].site.stores.activity
        assert activity is not None
        entries = await activity.list()
        assert SHOP in {e.peer for e in entries} and "https://example.com" not in {e.peer for e in entries}
        assert {e.site for e in entries} == {BLOG}


async def test_a_privileged_account_is_not_signed_in_by_a_sub_folder_peer_unless_trusted() -> None:
    apps = {"shop": login_app("shop", dict([ALICE])), "blog": login_app("blog")}
    for trusted, expected in (("", None), (SHOP, ALICE[0])):
        stores = {"shop": memory_stores(), "blog": memory_stores()}
        await stores["blog"].users.create(User(ALICE[0], "admin", name="Alice the admin"))
        own = {"blog": {"trusted_for_privileged": trusted}}
        async with SiteNetwork(apps, urls={"shop": SHOP, "blog": BLOG}, stores=stores, site_settings=own) as net:
            browser = net.browser()
            await browser.sign_in("shop", *ALICE)
            assert await browser.who("shop") == ALICE[0]
            assert await browser.who("blog") == expected, trusted


async def test_a_request_outside_the_sites_path_passes_by_with_nobody_signed_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope.get("user"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    settings = Settings.from_env(shop_env(SESSIONSYNC_PEERS=C), env_file=None)
    middleware = SessionSyncMiddleware(app, settings, stores=memory_stores())
    transport = httpx.ASGITransport(app=middleware)
    async with httpx.AsyncClient(transport=transport, base_url="https://example.com") as client:
        caplog.set_level(logging.WARNING, "asgi_sessionsync")
        for path in ("/blog/", "/shopping", "/_sessionsync/ping"):
            answer = await client.get(path, headers={"cookie": "sessionsync=x"})
            assert answer.status_code == 200 and answer.text == "ok" and "set-cookie" not in answer.headers
        assert "outside this site's path (/shop)" in caplog.text and "--root-path /shop" in caplog.text
        # Below its path it is the site: its endpoints answer there.
        assert (await client.get("/shop/_sessionsync/ping")).status_code == 204
    assert len(seen) == 3 and all(getattr(user, "is_authenticated", True) is False for user in seen)
    await middleware.aclose()


def test_an_app_login_cookie_at_slash_beside_a_sub_folder_peer_is_said_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "asgi_sessionsync")
    options = {"identity": "starlette-session", "app_session_secret": "the app's own secret"}
    for path, said in (("/", True), ("/shop", False)):
        caplog.clear()
        settings = Settings.from_env(shop_env(), app_session_path=path, **options)
        SessionSyncMiddleware(login_app("shop"), settings, stores=memory_stores())
        assert ("the two sites' logins overwrite each other" in caplog.text) is said, path
        assert "must trust each other fully" in caplog.text  # start-up says what config check says


async def test_peers_check_between_sub_folder_sites_names_each_by_its_path() -> None:
    async with network() as net:
        settings = net.sites["shop"].settings
        reports = {r.url: r for r in await check_peers(settings, transport=net.network)}
        for url in (BLOG, C):
            assert {c.name: c.status for c in reports[url].checks} == dict.fromkeys(
                ("browser URL", "back-channel URL", "same key", "lists this site", "clock"), Status.OK
            ), reports[url].checks
    # A blog that lists another site of the origin, not the shop: said, with the shop's name.
    apps = {"shop": login_app("shop"), "blog": login_app("blog")}
    own = {
        "blog": {"secret_keys": [KEY], "peers": ["https://example.com/other"]},
        "shop": {"secret_keys": [KEY], "peers": [BLOG]},
    }
    async with SiteNetwork(apps, urls={"shop": SHOP, "blog": BLOG}, site_settings=own) as net:
        (report,) = await check_peers(net.sites["shop"].settings, transport=net.network)
        listed = {c.name: c for c in report.checks}["lists this site"]
        assert listed.status is Status.FAIL and f"add {SHOP}" in listed.fix, listed


async def test_who_am_i_answers_a_page_of_the_sibling_sub_folder_site_with_the_sites_name() -> None:
    async with network() as net:
        browser = net.browser()
        await browser.sign_in("shop", *ALICE)
        answer = await browser.client.get(
            f"{SHOP}/_sessionsync/whoami",
            headers={"origin": "https://example.com", "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"},
        )
        assert answer.status_code == 200
        assert answer.json() == {"site": SHOP, "signed_in": True, "email": ALICE[0], "name": answer.json()["name"]}
        assert answer.headers["access-control-allow-origin"] == "https://example.com"


async def test_a_first_visit_to_a_sub_folder_site_is_caught_up_from_its_sibling() -> None:
    async with network() as net:
        browser = net.browser()
        await browser.sign_in("shop", *ALICE)
        # The shop forgets this browser (its cookies gone, its sessions ended here only):
        # the blog's cookies, at /blog, stay; the next visit to the shop asks its peers.
        browser.cookies.clear("example.com", "/shop")
        assert {c.path for c in browser.cookies if c.domain == "example.com" and c.name.startswith("__Secure")} == {
            "/blog"
        }
        assert await browser.who("shop") == ALICE[0]
        assert ("__Secure-sessionsync_shop", "/shop") in {(c.name, c.path) for c in browser.cookies}
