"""A login and a logout here sent on to a WordPress site, against a real uvicorn server
and a stand-in for WordPress's token endpoint (answering as the real plugin does,
``{"nonce", "expiry"}``): the token request has the shape the real plugin's has
(tests/wprus/transcripts/wordpress-browser.json), the app's redirect goes by this site's
``wprus/out`` step, whose page holds the frame to ``<wordpress>/wprus/login/`` with a
bundle the plugin opens (its username, ``remember``, and this site as
``<origin><prefix>``); the step is used once, a changed step is refused, and a WordPress
that does not answer is skipped with a log line while the login here stands."""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.wprus import open_bundle
from tests.harness.processes import free_ports
from tests.wprus.site import site_with_wordpress, wordpress_table

RECORDED = json.loads((Path(__file__).parent / "wprus" / "transcripts" / "wordpress-browser.json").read_text())
SECRETS = (RECORDED["encryption_secret"], RECORDED["signature_secret"])
WP = "http://wp.example.test"  # the browser's URL of WordPress; its server is reached by backchannel_url


class TokenEndpoint(BaseHTTPRequestHandler):
    asked: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        self.asked.append({"path": self.path, "form": {k: v[0] for k, v in parse_qs(body).items()}})
        data = json.dumps({"nonce": secrets.token_hex(16), "expiry": 1_900_000_000}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Served:
    def __init__(self, base: str, log: Path) -> None:
        self.base, self.log = base, log

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10, follow_redirects=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("wprus-out")
    port, wp_port, dead_port = free_ports(3)
    wordpress = ThreadingHTTPServer(("127.0.0.1", wp_port), TokenEndpoint)
    threading.Thread(target=wordpress.serve_forever, daemon=True).start()
    network = wordpress_table(
        WP, *SECRETS, f'login = "both"\nlogout = "send"\nbackchannel_url = "http://127.0.0.1:{wp_port}"\n'
    ) + wordpress_table(  # a second WordPress that does not answer: skipped, said in the log
        "http://down.example.test", "d" * 20, "e" * 20,
        f'login = "send"\nbackchannel_url = "http://127.0.0.1:{dead_port}"\n',
    )  # fmt: skip
    accounts = {"KIT_ACCOUNTS": "ann@example.com:ann-pass-1", "KIT_CSRF_CHECK": "false"}
    try:
        with site_with_wordpress(tmp, port, network, SESSIONSYNC_COOKIE_SECURE="false", **accounts) as (base, log, _):
            yield Served(base, log)
    finally:
        wordpress.shutdown()


def _frames(page: str) -> list[str]:
    return [html.unescape(src) for src in re.findall(r'<iframe[^>]* src="([^"]+)"', page)]


def test_a_login_here_goes_by_the_out_step_to_a_wordpress_frame(served: Served) -> None:
    TokenEndpoint.asked.clear()
    with served.client() as client:
        login = client.post("/login", data={"email": "ann@example.com", "password": "ann-pass-1", "next": "/account"})
        assert login.status_code == 303, login.text
        step = login.headers["location"]
        assert step.startswith(f"{served.base}/_sessionsync/wprus/out/?t=")
        answer = client.get(step)
        assert answer.status_code == 200, answer.text
        assert WP in answer.headers["content-security-policy"].split("frame-src ")[1]
        assert json.dumps(f"{served.base}/account") in answer.text  # where the app sent the browser
        [frame] = _frames(answer.text)
        url = urlsplit(frame)
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{WP}/wprus/login/"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert open_bundle(query["wprusdata"], *SECRETS) == {
            "username": "ann@example.com",
            "base_url": f"{served.base}/_sessionsync",  # what WordPress lists this site as
            "remember": 0,
        }
        # The token request, server to server, has the real plugin's shape.
        [asked] = TokenEndpoint.asked
        assert asked["path"] == "/wprus/token/"
        opened = open_bundle(asked["form"]["wprusdata"], *SECRETS)
        recorded = RECORDED["exchanges"][0]["token_request"]["body"]
        real = open_bundle(parse_qs(recorded)["wprusdata"][0], *SECRETS)
        assert opened.keys() == real.keys() and opened == {"action": "login", "method": "get", "base_url": WP + "/"}
        # Once only; a changed step is refused.
        assert client.get(step).status_code == 400
        assert client.get(step[:-6] + "AAAAAA").status_code == 400
        assert "Signed in as ann@example.com" in client.get("/").text  # the login here stands
    text = served.log.read_text()
    assert f"WordPress login of ann@example.com sent to {WP} (by the browser)" in text
    assert "WordPress login not sent to http://down.example.test: its token request was not answered" in text
    assert "WordPress out step refused: already used" in text


def test_a_logout_here_sends_the_browser_to_wordpress_logout(served: Served) -> None:
    with served.client() as client:
        client.post("/login", data={"email": "ann@example.com", "password": "ann-pass-1", "next": "/"})
        logout = client.post("/logout")
        assert logout.status_code == 303
        step = client.get(logout.headers["location"])
        assert step.status_code == 200
        [frame] = _frames(step.text)  # the WordPress site that does not take logouts gets none
        assert frame.startswith(f"{WP}/wprus/logout/?")
        bundle = parse_qs(urlsplit(frame).query)["wprusdata"][0]
        assert open_bundle(bundle, *SECRETS) == {
            "username": "ann@example.com",
            "base_url": f"{served.base}/_sessionsync",
        }
        assert "Not signed in" in client.get("/").text


def test_a_login_answered_with_a_page_gets_the_frame_in_that_page() -> None:
    """The app signs in and answers HTML (no redirect): the frame goes into its page."""
    import anyio
    from starlette.types import Receive, Scope, Send

    from asgi_sessionsync import SessionSyncMiddleware, Settings, sign_in
    from asgi_sessionsync.network_rules import NetworkRules
    from asgi_sessionsync.stores import memory_stores

    TokenEndpoint.asked.clear()
    wordpress = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=wordpress.serve_forever, daemon=True).start()
    table = {"encryption_secret": SECRETS[0], "signature_secret": SECRETS[1], "login": "send"}
    table["backchannel_url"] = f"http://127.0.0.1:{wordpress.server_port}"
    rules = NetworkRules.from_mapping({"wprus": {WP: table}})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        sign_in(scope, "page@example.com")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html><body><p>welcome</p></body></html>"})

    settings = Settings.from_env(
        {}, env_file=None, site_url="https://a.example", secret_keys=[generate_secret()], network_rules=rules
    )
    site = SessionSyncMiddleware(app, settings, stores=memory_stores())

    async def visit() -> httpx.Response:
        transport = httpx.ASGITransport(app=site)
        async with httpx.AsyncClient(transport=transport, base_url="https://a.example") as client:
            return await client.get("/welcome")

    try:
        page = anyio.run(visit)
    finally:
        wordpress.shutdown()
    assert page.status_code == 200 and "<p>welcome</p>" in page.text
    [frame] = _frames(page.text)
    assert frame.startswith(f"{WP}/wprus/login/?") and page.text.index("<iframe") < page.text.index("</body>")
    bundle = parse_qs(urlsplit(frame).query)["wprusdata"][0]
    assert open_bundle(bundle, *SECRETS)["username"] == "page@example.com"
    assert "no-store" in page.headers["cache-control"]  # a page holding a token is never cached
