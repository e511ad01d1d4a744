"""User changes made here reach a WordPress site through the outbox, against a real
uvicorn server and a stand-in WordPress (its token endpoint answering as the plugin does,
its action endpoints recording what they get): for each change a ``post`` token request
shaped as the real plugin's (tests/wprus/transcripts/wordpress-to-peer.json), then the
action's bundle with that token. A user's first sign-in here creates it there; a rename
is an update; a password known only as a hash is not sent (the plugin takes plain text),
said in the log; a delete is a delete; a role not in ``roles_sent`` is not revealed; a
WordPress that answers 500 gets the message again."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from asgi_sessionsync.wprus import open_bundle
from tests.harness.processes import free_ports
from tests.wprus.site import site_with_wordpress, wordpress_table

RECORDED = json.loads((Path(__file__).parent / "wprus" / "transcripts" / "wordpress-to-peer.json").read_text())
SECRETS = (RECORDED["encryption_secret"], RECORDED["signature_secret"])
REAL = {e["name"]: e for e in RECORDED["exchanges"]}
WP = "http://wp.example.test"


class StandIn(BaseHTTPRequestHandler):
    """WordPress's /wprus/token/ (a nonce) and /wprus/<action>/ (recorded; 200, empty)."""

    got: list[dict[str, Any]] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        opened = open_bundle(form["wprusdata"], *SECRETS)
        action = self.path.strip("/").split("/")[-1]
        if action != "token" and StandIn.fail_next:
            StandIn.fail_next -= 1
            self._answer(500, b"")
            return
        StandIn.got.append({"action": action, "data": opened, "token": form.get("token")})
        answer = json.dumps({"nonce": secrets.token_hex(16), "expiry": 1_900_000_000}) if action == "token" else ""
        self._answer(200, answer.encode())

    def _answer(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _sent(action: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [g for g in StandIn.got if g["action"] == action]
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("wprus-outbox")
    port, wp_port = free_ports(2)
    wordpress = ThreadingHTTPServer(("127.0.0.1", wp_port), StandIn)
    threading.Thread(target=wordpress.serve_forever, daemon=True).start()
    network = wordpress_table(
        WP, *SECRETS,
        'login = "accept"\ncreate = "send"\nupdate = "send"\ndelete = "send"\npassword = "send"\nrole = "send"\n'
        f'roles_sent = ["subscriber"]\nbackchannel_url = "http://127.0.0.1:{wp_port}"\n',
    )  # fmt: skip
    kit = {"KIT_ACCOUNTS": "ann@example.com:ann-pass-1", "KIT_CSRF_CHECK": "false", "KIT_USER_API": "true"}
    try:
        with site_with_wordpress(tmp, port, network, SESSIONSYNC_COOKIE_SECURE="false", **kit) as (base, log, _):
            yield base, log
    finally:
        wordpress.shutdown()


def test_changes_here_reach_wordpress_as_the_plugin_sends_them(site: tuple[str, Path]) -> None:
    base, log = site
    ours = f"{base}/_sessionsync"
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post("/login", data={"email": "ann@example.com", "password": "ann-pass-1", "next": "/"})
        assert login.status_code in (200, 303)
        [create] = _sent("create")
        assert create["data"] == {
            "username": "ann@example.com",
            "user_login": "ann@example.com",
            "user_email": "ann@example.com",
            "display_name": "ann@example.com",
            "nickname": "ann@example.com",
            "base_url": ours,
        }  # no roles: "member" is not in roles_sent; no password: only its hash is known here
        real_create = open_bundle(parse_qs(REAL["create"]["request"]["body"])["wprusdata"][0], *SECRETS)
        assert set(create["data"]) - {"username", "base_url"} <= set(real_create)  # the plugin's own keys
        tokens = [g for g in StandIn.got if g["action"] == "token"]
        real_ask = open_bundle(parse_qs(REAL["create"]["token_request"]["body"])["wprusdata"][0], *SECRETS)
        assert tokens[0]["data"].keys() == real_ask.keys()
        assert tokens[0]["data"] == {"action": "create", "method": "post", "base_url": WP + "/"}
        assert create["token"] is not None and create["token"] != tokens[0]["token"]

        StandIn.fail_next = 1  # WordPress answers 500 once: the message is sent again
        assert client.post("/_kit/rename", data={"email": "ann@example.com", "name": "Ann Other"}).text == "renamed"
        [update] = _sent("update", timeout=15)
        assert update["data"]["display_name"] == "Ann Other" and update["data"]["user_login"] == "ann@example.com"

        client.post("/_kit/password", data={"password": "ann-pass-2"})
        assert client.post("/_kit/delete", data={"email": "ann@example.com"}).text == "deleted"
        [delete] = _sent("delete")
        assert delete["data"] == {"username": "ann@example.com", "reassign_username": False, "base_url": ours}
    assert not _sent("password", timeout=0.5)
    text = log.read_text()
    assert (
        "password of ann@example.com not sent to http://wp.example.test: only a password given in plain text is" in text
    )
    assert f"user message to {WP} failed (HTTP 500), attempt 1; retrying" in text
    assert f"user delete delivered to WordPress {WP}" in text
