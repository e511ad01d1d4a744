"""The plugin's browser-side login and logout answered by a real uvicorn server, replaying
what WordPress 6.1.9 with WP Remote Users Sync 2.1.5 and Chromium really sent
(tests/wprus/transcripts/wordpress-browser.json: the plugin's token request, then the
browser's request with its Referer and Fetch Metadata headers). For each: the recorded
token request gets a fresh token here, then the recorded bundle comes with it.

Async mode (a hidden iframe): signed in, then signed out. Redirect mode (a script's or a
303's top-level navigation): signed in and sent back to the WordPress page, the port the
plugin drops put back. Refused, each with a log line and a page (never a traceback): the
same token again, a token asked for another action, a tampered bundle, an unknown site,
a request that is not a navigation, one from another site's page, a login name that is
not an email, and a privileged account here; a refusal in the redirect mode goes back to
WordPress signed out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from tests.harness.env_site import ROOT
from tests.harness.processes import free_ports
from tests.wprus.site import site_with_wordpress, wordpress_table

RECORDED = json.loads((Path(__file__).parent / "wprus" / "transcripts" / "wordpress-browser.json").read_text())
WP = RECORDED["wordpress_url"]
EX = {e["name"]: e for e in RECORDED["exchanges"]}


class Served:
    def __init__(self, base: str, log: Path, env: dict[str, str]) -> None:
        self.base, self.log, self.env = base, log, env
        self.prefix = f"{base}/_sessionsync/wprus"

    def token(self, name: str) -> str:
        body = EX[name]["token_request"]["body"]
        answer = httpx.post(f"{self.prefix}/token/", content=body, headers={"content-type": _FORM}, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["nonce"])

    def browser(
        self,
        name: str,
        token: str,
        *,
        bundle: str | None = None,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The browser's request of ``name``, as recorded (its headers too), with ``token``."""
        recorded = EX[name]["request"]
        action = recorded["path"].strip("/").split("/")[-1]
        data = bundle if bundle is not None else _bundle(name)
        sent = {**recorded["headers"], **(headers or {})}
        with httpx.Client(cookies=cookies or {}, timeout=10) as client:
            return client.get(f"{self.prefix}/{action}/", params={"wprusdata": data, "token": token}, headers=sent)

    def who(self, cookies: httpx.Cookies | dict[str, str]) -> str:
        # As plain name=value: the jar would keep Secure cookies off plain http to 127.0.0.1.
        with httpx.Client(cookies=dict(cookies), timeout=10) as client:
            return client.get(f"{self.base}/").text


_FORM = "application/x-www-form-urlencoded"


def _bundle(name: str) -> str:
    return str(parse_qs(EX[name]["request"]["query"])["wprusdata"][0])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("wprus-browser")
    (port,) = free_ports(1)
    network = wordpress_table(
        WP, RECORDED["encryption_secret"], RECORDED["signature_secret"],
        'login = "accept"\nlogout = "accept"\nsources = ["127.0.0.1"]\n',
    )  # fmt: skip
    # *.localhost: Secure cookies over http, so SameSite=None (auto mode), as an iframe's
    # sign-in needs; requests go to 127.0.0.1 (Python does not resolve *.localhost).
    with site_with_wordpress(
        tmp,
        port,
        network,
        f"http://py.localhost:{port}",
        SESSIONSYNC_AUTO_PROVISION="true",
        SESSIONSYNC_SYNC_MODE="auto",
    ) as (base, log, env):
        yield Served(base, log, env)


def test_async_login_then_logout(served: Served) -> None:
    login = served.browser("login_async", served.token("login_async"))
    assert login.status_code == 200, login.text
    assert b"frame-ancestors " + WP.encode() in login.headers["content-security-policy"].encode()
    assert "Signed in as carol@example.com" in served.who(login.cookies)
    logout = served.browser("logout_async", served.token("logout_async"), cookies=dict(login.cookies))
    assert logout.status_code == 200, logout.text
    assert "Not signed in" in served.who(login.cookies)
    text = served.log.read_text()
    assert f"WP Remote Users Sync login from {WP}: carol@example.com signed in" in text
    assert f"WP Remote Users Sync logout from {WP}: carol@example.com signed out of this browser" in text


def test_the_same_token_twice_is_refused(served: Served) -> None:
    token = served.token("login_async")
    assert served.browser("login_async", token).status_code == 200
    again = served.browser("login_async", token)
    assert again.status_code == 400 and not again.cookies
    assert "This sign-in link is not valid" in again.text and "Traceback" not in again.text
    assert "token already used" in served.log.read_text()


def test_a_token_for_another_action_is_refused(served: Served) -> None:
    refused = served.browser("login_async", served.token("logout_async"))
    assert refused.status_code == 400 and not refused.cookies
    assert "issued for logout by get, not login by get" in served.log.read_text()


def test_a_tampered_bundle_and_an_unknown_site_are_refused(served: Served) -> None:
    bundle = _bundle("login_async")
    tampered = bundle[:-8] + ("A" if bundle[-8] != "A" else "B") + bundle[-7:]
    assert served.browser("login_async", served.token("login_async"), bundle=tampered).status_code == 400
    from asgi_sessionsync.wprus import seal

    other = seal({"username": "carol@example.com", "remember": 1, "base_url": WP}, "o" * 20, "p" * 20)
    unknown = served.browser("login_async", served.token("login_async"), bundle=other)
    assert unknown.status_code == 400 and "These sites do not share sign-in" in unknown.text
    assert "unknown site" in served.log.read_text()


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-dest": "script", "sec-fetch-mode": "no-cors"},  # a <script src> on some page
        {"sec-fetch-dest": "empty", "sec-fetch-mode": "cors"},  # a fetch()
        {"referer": "https://attacker.example/page"},  # an iframe on another site's page
    ],
)
def test_what_is_not_that_sites_navigation_is_refused(served: Served, headers: dict[str, str]) -> None:
    refused = served.browser("login_async", served.token("login_async"), headers=headers)
    assert refused.status_code == 403 and not refused.cookies
    assert "Not signed in here" in refused.text
    assert "not a navigation" in served.log.read_text() or "came from another site" in served.log.read_text()


@pytest.mark.parametrize("name", ["login_redirect_script", "login_redirect_silent"])
def test_redirect_mode_signs_in_and_goes_back_with_the_port(served: Served, name: str) -> None:
    answer = served.browser(name, served.token(name))
    assert answer.status_code == 303, answer.text
    # The plugin sent http://wp.localhost/wp-admin/profile.php: its port is put back.
    assert answer.headers["location"] == f"{WP}/wp-admin/profile.php"
    assert "Signed in as carol@example.com" in served.who(answer.cookies)


def test_a_login_name_that_is_not_an_email_is_refused(served: Served) -> None:
    refused = served.browser("login_async_login_name", served.token("login_async_login_name"))
    assert refused.status_code == 403 and not refused.cookies
    assert "WordPress login name is not an email address" in served.log.read_text()


def test_a_wordpress_login_after_the_users_sessions_ended_here_signs_in(served: Served) -> None:
    """Sessions ended here everywhere (a password change, a revocation) void the sign-ins
    made before; a WordPress login is as old as the token this site issued for it: one
    asked before is refused, one asked after signs in (it is not an unknown-time sign-in)."""
    assert served.browser("login_async", served.token("login_async")).status_code == 200  # carol is a user here
    asked_before = served.token("login_async")
    cli = [sys.executable, "-m", "asgi_sessionsync", "sessions", "revoke", "--user", "carol@example.com"]
    subprocess.run(cli, env={**os.environ, **served.env}, cwd=ROOT, check=True, capture_output=True, timeout=60)
    time.sleep(1.2)  # a token's time is kept in whole seconds
    stale = served.browser("login_async", asked_before)
    assert stale.status_code == 403 and "Not signed in" in served.who(stale.cookies)
    fresh = served.browser("login_async", served.token("login_async"))
    assert fresh.status_code == 200, fresh.text
    assert "Signed in as carol@example.com" in served.who(fresh.cookies)


def test_a_privileged_account_here_is_refused_and_the_redirect_goes_back(served: Served, tmp_path: Path) -> None:
    users = tmp_path / "users.jsonl"
    users.write_text(json.dumps({"email": "carol@example.com", "role": "admin", "name": "Carol"}) + "\n")
    cli = [sys.executable, "-m", "asgi_sessionsync", "users", "import", "--update", str(users)]
    subprocess.run(cli, env={**os.environ, **served.env}, cwd=ROOT, check=True, capture_output=True, timeout=60)
    answer = served.browser("login_redirect_script", served.token("login_redirect_script"))
    assert answer.status_code == 303 and answer.headers["location"] == f"{WP}/wp-admin/profile.php"
    assert "Not signed in" in served.who(answer.cookies)
    assert "a privileged account here, and that peer is not trusted for it" in served.log.read_text()
    frame = served.browser("login_async", served.token("login_async"))
    assert frame.status_code == 403 and "Not signed in here" in frame.text


def test_in_bounce_mode_the_iframe_login_is_refused_and_the_redirect_mode_works(tmp_path: Path) -> None:
    """Bounce mode's session cookie is SameSite=Lax: a browser does not keep it when set in
    WordPress's iframe, so this site refuses the iframe's login (said) instead of signing
    in a session nobody holds; the redirect mode, a top-level navigation, signs in."""
    (port,) = free_ports(1)
    network = wordpress_table(
        WP, RECORDED["encryption_secret"], RECORDED["signature_secret"], 'login = "accept"\nsources = ["127.0.0.1"]\n'
    )
    settings = {"SESSIONSYNC_SYNC_MODE": "bounce", "SESSIONSYNC_COOKIE_SECURE": "false"}
    with site_with_wordpress(tmp_path, port, network, **settings) as (base, log, env):
        served = Served(base, log, env)
        frame = served.browser("login_async", served.token("login_async"))
        assert frame.status_code == 403 and not frame.cookies
        page = served.browser("login_redirect_silent", served.token("login_redirect_silent"))
        assert page.status_code == 303 and "Signed in as carol@example.com" in served.who(page.cookies)
    assert "iframe mode needs this site's session cookie SameSite=None (it is lax" in log.read_text()
