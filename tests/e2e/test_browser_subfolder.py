"""Two sub-folder sites of one origin and a site on another, in Chromium, behind a real nginx
(issue #26; docs/deployment.md, "Sub-folder sites on one domain").

``http://sub.localhost:N/shop`` (alice's account) and ``http://sub.localhost:N/blog`` are two
uvicorn servers (``--root-path``) behind nginx configured with the documented block, which
strips each path; ``http://c.localhost:M`` is a third site on its own origin. The shop
reaches the blog's back-channel through nginx (path included), the blog reaches the
shop's straight at its server (no path). Chromium blocks third-party cookies. In bounce
mode and in auto mode: there the shop's frame for the blog is same-origin (first-party
cookies), c's frames for the two sub-folder sites fail, and its page bounces through
both (its script tells the two frames of one origin apart by the site each names).

A sign-in on /shop is a sign-in on /blog and on c; a sign-out on /blog, a sign-out on all
three; a sign-in on c reaches both sub-folder sites, and a sign-out on /shop all three.
Each sub-folder site's cookie is its own: ``Path`` its path, ``HttpOnly``, a name of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asgi_sessionsync.keys import generate_secret
from tests.constants import ALICE, BOB
from tests.e2e.browser import who_at
from tests.e2e.harness import OUTPUT, require_chromium
from tests.harness.env_site import ROOT, serve_site_from_env
from tests.harness.nginx import doc_block, require_nginx, serve_nginx
from tests.harness.processes import free_ports

SITES = ("shop", "blog", "c")
DEPLOYMENT = ROOT / "docs" / "deployment.md"


@dataclass
class Origins:
    urls: dict[str, str]
    folder: Path
    nginx_log: Path
    mode: str

    def url(self, name: str, path: str = "/") -> str:
        return self.urls[name] + path


def nginx_block(port: int, shop: int, blog: int, log: Path) -> str:
    """docs/deployment.md's sub-folder block with this test's address, name, upstreams and log."""
    block = doc_block(DEPLOYMENT, "nginx-subfolder:")
    changes = {
        "listen 443 ssl;": f"listen 127.0.0.1:{port};",
        "server_name example.com;": "server_name sub.localhost;",
        "http://127.0.0.1:8011/;": f"http://127.0.0.1:{shop}/;",
        "http://127.0.0.1:8012/;": f"http://127.0.0.1:{blog}/;",
        "/var/log/nginx/example.access.log": str(log),
    }
    for old, new in changes.items():
        assert old in block, f"docs/deployment.md's sub-folder block no longer holds {old!r}"
        block = block.replace(old, new)
    return block


@pytest.fixture(params=["bounce", "auto"])
def origins(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Origins]:
    require_chromium()
    require_nginx()
    proxy, shop_port, blog_port, c_port = free_ports(4)
    urls = {
        "shop": f"http://sub.localhost:{proxy}/shop",
        "blog": f"http://sub.localhost:{proxy}/blog",
        "c": f"http://c.localhost:{c_port}",
    }
    back = {
        "shop": f"http://127.0.0.1:{shop_port}",  # its server, which puts /shop before every path
        "blog": f"http://127.0.0.1:{proxy}/blog",  # through nginx, path included
        "c": f"http://127.0.0.1:{c_port}",
    }
    secret = generate_secret()

    def env(name: str) -> dict[str, str]:
        variables = {
            "SESSIONSYNC_SITE_URL": urls[name],
            "SESSIONSYNC_SECRET_KEYS": secret,
            "SESSIONSYNC_PEERS": ",".join(f"{urls[o]}|{back[o]}" for o in SITES if o != name),
            "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / f'site-{name}.sqlite3'}",
            "SESSIONSYNC_TRUSTED_PROXIES": "127.0.0.1",
            "SESSIONSYNC_SYNC_MODE": request.param,
            "KIT_SITE_NAME": name,
        }
        if name == "shop":
            variables["KIT_ACCOUNTS"] = ":".join(ALICE)
        if name == "c":
            variables["KIT_ACCOUNTS"] = ":".join(BOB)
        return variables

    nginx_log = tmp_path / "nginx" / "example.access.log"
    with ExitStack() as stack:
        for name, port in (("shop", shop_port), ("blog", blog_port)):
            args = ["--root-path", f"/{name}", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
            stack.enter_context(
                serve_site_from_env(env(name), "127.0.0.1", port, tmp_path / f"{name}.log", extra_args=args)
            )
        stack.enter_context(serve_site_from_env(env("c"), "127.0.0.1", c_port, tmp_path / "c.log"))
        snippet = nginx_block(proxy, shop_port, blog_port, nginx_log)
        stack.enter_context(
            serve_nginx(snippet, tmp_path / "nginx", f"http://127.0.0.1:{proxy}/shop/_sessionsync/ping")
        )
        yield Origins(urls, tmp_path, nginx_log, request.param)
    for name in SITES:
        text = (tmp_path / f"{name}.log").read_text()
        assert "Traceback" not in text, text
        assert "outside this site's path" not in text, text  # nginx and --root-path agree


def settle(context: Any, origins: Origins, expected: str | None, timeout: float = 10.0) -> Mapping[str, str | None]:
    """Every site's state once each is ``expected``, or the last one seen at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        state = {n: who_at(context, origins.url(n)) for n in SITES}
        if all(v == expected for v in state.values()) or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def sign_in(context: Any, origins: Origins, site: str, account: tuple[str, str]) -> None:
    page = context.new_page()
    page.goto(origins.url(site, "/account"))
    page.fill("input[name=email]", account[0])
    page.fill("input[name=password]", account[1])
    with page.expect_navigation(url=re.compile(re.escape(origins.url(site, "/account")) + "$")):
        page.click("button[type=submit]")
    page.close()


def sign_out(context: Any, origins: Origins, site: str) -> None:
    page = context.new_page()
    page.goto(origins.url(site))
    with page.expect_navigation():
        page.click("text=Sign out")
    page.close()


def test_two_sub_folder_sites_of_one_origin_and_a_third_origin_share_sign_in_and_sign_out(
    open_browser: Callable[..., Any], origins: Origins
) -> None:
    started = time.monotonic()
    context = open_browser(third_party_cookies=False)

    sign_in(context, origins, "shop", ALICE)
    assert settle(context, origins, ALICE[0]) == dict.fromkeys(SITES, ALICE[0])
    jar = {(c["domain"], c["path"], c["name"]): c for c in context.cookies()}
    shop = jar[("sub.localhost", "/shop", "sessionsync_shop")]
    blog = jar[("sub.localhost", "/blog", "sessionsync_blog")]
    samesite = "Lax" if origins.mode == "bounce" else "None"
    assert shop["httpOnly"] and blog["httpOnly"] and shop["sameSite"] == blog["sameSite"] == samesite
    assert ("c.localhost", "/", "sessionsync") in jar
    # The middleware's cookies on that origin: each site's at its own path, of its own names.
    # (The test app's own CSRF cookie is at / on both: an app's cookies are the app's.)
    ours = sorted(k for k in jar if k[0] == "sub.localhost" and k[2].startswith("sessionsync"))
    assert all(k[2].startswith("sessionsync" + k[1].replace("/", "_")) for k in ours), ours
    assert {k[1] for k in ours} == {"/shop", "/blog"}, ours

    sign_out(context, origins, "blog")
    assert settle(context, origins, None) == dict.fromkeys(SITES, None)

    sign_in(context, origins, "c", BOB)
    assert settle(context, origins, BOB[0]) == dict.fromkeys(SITES, BOB[0])
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = context.new_page()
    shot.goto(origins.url("blog"))
    shot.screenshot(path=str(OUTPUT / f"subfolder-blog-signed-in-from-c-{origins.mode}.png"))
    shot.close()
    sign_out(context, origins, "shop")
    assert settle(context, origins, None) == dict.fromkeys(SITES, None)

    # nginx logged the middleware's requests below both paths, by path only.
    lines = origins.nginx_log.read_text().splitlines()
    logged = [line for line in lines if "/_sessionsync/" in line]
    for path in ("/shop", "/blog"):
        assert [line for line in logged if f" {path}/_sessionsync/" in line], logged
    assert not [line for line in logged if re.search(r"/_sessionsync/\S*\?", line)], logged
    assert time.monotonic() - started < 60
