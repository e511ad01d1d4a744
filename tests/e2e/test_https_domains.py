"""Four HTTPS domains in Chromium, one behind a real nginx (issue #22).

The shape a real deployment has, which ``*.localhost`` over http hides: ``shop.test``
(alice's account), ``blog.test``, ``forum.test`` and ``wiki.test``, each a uvicorn site
over real TLS with a certificate from a CA made here; ``wiki`` behind nginx, which
terminates TLS with the configuration block of docs/deployment.md and proxies to uvicorn
over http (``--proxy-headers``, ``SESSIONSYNC_TRUSTED_PROXIES``). The back-channel between
the sites is https at ``127.0.0.1`` (nginx's port for wiki), trusted through
``SESSIONSYNC_PEER_CA_FILE`` only. Chromium reaches the four names at 127.0.0.1 by
``--host-resolver-rules`` (the URLs keep their ports) and trusts the leaf by its key
(``--ignore-certificate-errors-spki-list``).

A sign-in on shop is a sign-in on all four; a sign-out on wiki, a sign-out on all four; a
password change on wiki ends another browser's sessions on all four and keeps this one
signed in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asgi_sessionsync.keys import generate_secret
from tests.constants import ALICE
from tests.e2e.browser import who_at
from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, OUTPUT, require_chromium
from tests.harness.env_site import ROOT, serve_site_from_env
from tests.harness.nginx import doc_block, require_nginx, serve_nginx
from tests.harness.processes import free_ports
from tests.harness.tls import PrivateCA

SITES = ("shop", "blog", "forum", "wiki")
PROXIED = "wiki"
DEPLOYMENT = ROOT / "docs" / "deployment.md"


@dataclass
class Domains:
    urls: dict[str, str]
    folder: Path
    nginx_log: Path

    def url(self, name: str, path: str = "/") -> str:
        return self.urls[name] + path


def nginx_site(ca: PrivateCA, cert: Path, key: Path, port: int, upstream: int, log: Path) -> str:
    """docs/deployment.md's nginx block with this test's names, port, files and upstream."""
    block = doc_block(DEPLOYMENT, "nginx-site:")
    changes = {
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "server_name wiki.example.com;": "server_name wiki.test;",
        "/etc/ssl/wiki.example.com/fullchain.pem": str(cert),
        "/etc/ssl/wiki.example.com/privkey.pem": str(key),
        "/var/log/nginx/wiki.access.log": str(log),
        "http://127.0.0.1:8004": f"http://127.0.0.1:{upstream}",
    }
    for old, new in changes.items():
        assert old in block, f"docs/deployment.md's nginx block no longer holds {old!r}"
        block = block.replace(old, new)
    return block


@pytest.fixture
def domains(tmp_path: Path) -> Iterator[Domains]:
    require_chromium()
    require_nginx()
    ca = PrivateCA(tmp_path)
    leaf = ca.issue(*(f"{n}.test" for n in SITES), "127.0.0.1")
    *public_ports, upstream = free_ports(len(SITES) + 1)
    public = dict(zip(SITES, public_ports, strict=True))
    urls = {n: f"https://{n}.test:{public[n]}" for n in SITES}
    back = {n: f"https://127.0.0.1:{public[n]}" for n in SITES}  # nginx's port for wiki
    secret = generate_secret()

    def env(name: str) -> dict[str, str]:
        variables = {
            "SESSIONSYNC_SITE_URL": urls[name],
            "SESSIONSYNC_SECRET_KEYS": secret,
            "SESSIONSYNC_PEERS": ",".join(f"{urls[o]}|{back[o]}" for o in SITES if o != name),
            "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / f'site-{name}.sqlite3'}",
            "SESSIONSYNC_PEER_CA_FILE": str(ca.ca),
            "KIT_SITE_NAME": name,
            "KIT_USER_API": "true",
        }
        if name == "shop":
            variables["KIT_ACCOUNTS"] = ":".join(ALICE)
        if name == PROXIED:
            variables["SESSIONSYNC_TRUSTED_PROXIES"] = "127.0.0.1"
        return variables

    tls = (leaf.cert, leaf.key, ca.client_context())
    nginx_log = tmp_path / "nginx" / "wiki.access.log"
    with ExitStack() as stack:
        for name in SITES:
            log = tmp_path / f"{name}.log"
            if name == PROXIED:
                args = ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
                stack.enter_context(serve_site_from_env(env(name), "127.0.0.1", upstream, log, extra_args=args))
            else:
                stack.enter_context(serve_site_from_env(env(name), "127.0.0.1", public[name], log, tls=tls))
        snippet = nginx_site(ca, leaf.cert, leaf.key, public[PROXIED], upstream, nginx_log)
        ready = f"{back[PROXIED]}/_sessionsync/ping"
        stack.enter_context(serve_nginx(snippet, tmp_path / "nginx", ready, verify=ca.client_context()))
        domains = Domains(urls, tmp_path, nginx_log)
        domains.spki = leaf.spki_hash  # type: ignore[attr-defined]
        yield domains
    for name in SITES:
        text = (tmp_path / f"{name}.log").read_text()
        assert "Traceback" not in text, text
        # The back-channel trusted the private CA: no TLS failure anywhere.
        assert "certificate not trusted" not in text and "TLS error" not in text, text


def who(context: Any, domains: Domains, site: str) -> str | None:
    return who_at(context, domains.url(site))


def settle(context: Any, domains: Domains, expected: str | None, timeout: float = 10.0) -> Mapping[str, str | None]:
    """Every site's state once each is ``expected``, or the last one seen at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        state = {n: who(context, domains, n) for n in SITES}
        if all(v == expected for v in state.values()) or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def sign_in(context: Any, domains: Domains, site: str) -> None:
    page = context.new_page()
    page.goto(domains.url(site, "/account"))
    page.fill("input[name=email]", ALICE[0])
    page.fill("input[name=password]", ALICE[1])
    with page.expect_navigation(url=re.compile(re.escape(domains.url(site, "/account")) + "$")):
        page.click("button[type=submit]")
    page.close()


def test_sign_in_sign_out_and_a_password_change_across_four_https_domains_one_behind_nginx(
    playwright: Any, domains: Domains
) -> None:
    started = time.monotonic()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--host-resolver-rules=MAP *.test 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={domains.spki}",  # type: ignore[attr-defined]
        ],
    )
    try:
        mine, other = browser.new_context(), browser.new_context()
        for context in (mine, other):
            context.set_default_timeout(15000)
        # A sign-in on shop: signed in on all four.
        sign_in(mine, domains, "shop")
        assert settle(mine, domains, ALICE[0]) == dict.fromkeys(SITES, ALICE[0])

        # A sign-out on wiki, behind nginx: signed out on all four.
        page = mine.new_page()
        page.goto(domains.url(PROXIED))
        with page.expect_navigation():
            page.click("text=Sign out")
        page.close()
        assert settle(mine, domains, None) == dict.fromkeys(SITES, None)

        # Two browsers signed in; a password change on wiki (this browser's account page)
        # ends the other's sessions on all four and keeps this one signed in.
        sign_in(mine, domains, "shop")
        sign_in(other, domains, "shop")
        assert settle(other, domains, ALICE[0]) == dict.fromkeys(SITES, ALICE[0])
        assert settle(mine, domains, ALICE[0]) == dict.fromkeys(SITES, ALICE[0])
        page = mine.new_page()
        page.goto(domains.url(PROXIED))
        account = re.compile(re.escape(domains.url(PROXIED, "/account")) + "$")
        with page.expect_navigation(url=account):
            page.evaluate(
                """() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/_kit/password';
                const p = document.createElement('input'); p.name = 'password'; p.value = 'a new password';
                f.appendChild(p); document.body.appendChild(f); f.submit(); }"""
            )
        page.close()
        assert settle(other, domains, None) == dict.fromkeys(SITES, None)
        assert settle(mine, domains, ALICE[0]) == dict.fromkeys(SITES, ALICE[0])
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = mine.new_page()
        shot.goto(domains.url(PROXIED))
        shot.screenshot(path=str(OUTPUT / "https-domains-wiki-behind-nginx.png"))
        shot.close()
    finally:
        browser.close()

    # nginx logged the middleware's requests, by path only (their queries carry envelopes).
    lines = domains.nginx_log.read_text().splitlines()
    ours = [line for line in lines if " /_sessionsync/" in line]
    assert ours, lines
    assert not [line for line in ours if re.search(r" /_sessionsync/\S*\?", line)], ours
    assert time.monotonic() - started < 60
