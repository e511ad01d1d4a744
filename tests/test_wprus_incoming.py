"""The plugin's server-to-server requests answered by a real uvicorn server, replaying
what WordPress 6.1.9 with WP Remote Users Sync 2.1.5 really sent (the recorded token
request, then the recorded create bundle with the token this site answered): the user is
created; the same token again is refused; a token for another action, a tampered bundle,
an unknown site and a sender outside the site's sources are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from tests.harness.processes import free_ports
from tests.wprus.site import site_with_wordpress, wordpress_table

RECORDED = json.loads((Path(__file__).parent / "wprus" / "transcripts" / "wordpress-to-peer.json").read_text())
WP = RECORDED["wordpress_url"]
EX = {e["name"]: e for e in RECORDED["exchanges"]}


def _bundle(name: str, part: str = "request") -> str:
    request = EX[name][part]
    return str(parse_qs(request["body"])["wprusdata"][0])


def test_recorded_plugin_requests_against_a_real_server(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    network = wordpress_table(
        WP, RECORDED["encryption_secret"], RECORDED["signature_secret"],
        'create = "accept"\nupdate = "accept"\npassword = "accept"\nrole = "accept"\n'
        'roles_accepted = ["subscriber", "editor"]\nsources = ["127.0.0.1"]\n',
    )  # fmt: skip
    prefix = f"http://127.0.0.1:{port}/_sessionsync/wprus"

    def post(action: str, data: dict[str, str], local: str = "127.0.0.1") -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=local)
        with httpx.Client(transport=transport, timeout=10) as client:
            return client.post(f"{prefix}/{action}/", data=data)

    with site_with_wordpress(tmp_path, port, network) as (_, log, _env):
        answer = post("token", {"wprusdata": _bundle("create", "token_request")})
        assert answer.status_code == 200, answer.text
        token = answer.json()["nonce"]
        assert answer.json()["expiry"] == 0
        created = post("create", {"wprusdata": _bundle("create"), "token": token})
        assert created.status_code == 200, created.text
        # The same token again (the plugin would send it again: this site refuses).
        again = post("update", {"wprusdata": _bundle("update_name"), "token": token})
        assert again.status_code == 403
        replayed = post("create", {"wprusdata": _bundle("create"), "token": token})
        assert replayed.status_code == 403
        # A token asked for update, used for delete.
        update_token = post("token", {"wprusdata": _bundle("update_name", "token_request")}).json()["nonce"]
        assert post("delete", {"wprusdata": _bundle("delete"), "token": update_token}).status_code == 403
        # A tampered bundle.
        bundle = _bundle("update_name")
        tampered = bundle[:-8] + ("A" if bundle[-8] != "A" else "B") + bundle[-7:]
        fresh = post("token", {"wprusdata": _bundle("update_name", "token_request")}).json()["nonce"]
        assert post("update", {"wprusdata": tampered, "token": fresh}).status_code == 403
        # From an address that is not one of the site's sources.
        assert post("token", {"wprusdata": _bundle("create", "token_request")}, "127.0.0.2").status_code == 403
        # An unknown site: a bundle under other secrets.
        assert post("token", {"wprusdata": "bm90IGEgYnVuZGxl"}).status_code == 403
        # The token not used yet still works: the refusals did not use it up.
        assert post("update", {"wprusdata": _bundle("update_name"), "token": fresh}).status_code == 200
    text = log.read_text()
    assert re.search(r"WP Remote Users Sync create from http://wp.localhost:18404 for bob@example.com: applied", text)
    assert "token already used" in text
    assert "issued for update by post, not delete by post" in text
    assert "issued for create by post, not update by post" in text
    assert "unknown site" in text and "not one of" in text
    assert "bob-pass-1" not in text  # a password is never logged
