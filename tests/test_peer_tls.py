"""A peer on https with a private CA (#22): TLS errors are said as TLS errors, with the fix,
and ``SESSIONSYNC_PEER_CA_FILE`` trusts that CA for peer requests.

Real TLS: a CA made here, peers B (a good certificate for 127.0.0.1) and C (an expired
one) served by uvicorn over TLS on free ports. Before: ``peers check`` said "nothing
answers at https://127.0.0.1:PORT (connection refused)" for each, and a delivery's line
said "failed (ConnectError)", while the peer was up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Peer, Settings
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.cli import run_cli
from tests.constants import ALICE
from tests.harness.processes import free_ports
from tests.harness.tls import PrivateCA, serving_tls


@dataclass
class Peers:
    ca: PrivateCA
    secret: str
    urls: dict[str, str]
    back: dict[str, str]
    folder: Path

    def peer(self, name: str, back: str | None = None) -> str:
        return f"{self.urls[name]}|{back or self.back[name]}"

    def check(self, peers: str, **env: str) -> Any:
        base = {"SESSIONSYNC_SITE_URL": self.urls["a"], "SESSIONSYNC_SECRET_KEYS": self.secret}
        variables = {**base, "SESSIONSYNC_PEERS": peers, "SESSIONSYNC_STORE": "memory://", **env}
        return run_cli("peers", "check", "--format", "json", env=variables)

    def site_a(self, **settings: Any) -> SessionSyncMiddleware:
        options = {
            "site_url": self.urls["a"],
            "secret_keys": [self.secret],
            "peers": [Peer(self.urls["b"], self.back["b"])],
            "store": f"sqlite:///{self.folder / f'a-{time.monotonic_ns()}.sqlite3'}",
            "logout_wait": 3.0,
            **settings,
        }
        return SessionSyncMiddleware(login_app("a"), Settings.from_env({}, env_file=None, **options))


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    folder = tmp_path_factory.mktemp("tls")
    ca = PrivateCA(folder)
    good, expired = ca.issue("127.0.0.1"), ca.issue("127.0.0.1", expired=True)
    pa, pb, pc = free_ports(3)
    urls = {"a": f"http://a.localhost:{pa}", "b": f"https://b.test:{pb}", "c": f"https://c.test:{pc}"}
    back = {"a": f"http://127.0.0.1:{pa}", "b": f"https://127.0.0.1:{pb}", "c": f"https://127.0.0.1:{pc}"}
    secret = generate_secret()
    net = SiteNetwork(
        {n: login_app(n) for n in "bc"},
        urls={n: urls[n] for n in "bc"},
        backchannel_urls={n: back[n] for n in "bc"},
        secret=secret,
        settings={"peers": [Peer(urls["a"], back["a"])], "secret_keys": [secret]},
        in_process=False,
    )
    with serving_tls({pb: (net.sites["b"], good), pc: (net.sites["c"], expired)}):
        yield Peers(ca, secret, urls, back, folder)


def back_channel(result: Any) -> dict[str, str]:
    (peer,) = json.loads(result.stdout)["peers"]
    return {c["name"]: c for c in peer["checks"]}["back-channel URL"]  # type: ignore[no-any-return]


def test_an_untrusted_certificate_is_said_with_the_fix(peers: Peers) -> None:
    result = peers.check(peers.peer("b"))
    assert result.returncode == 1, result.stderr
    back = back_channel(result)
    assert back["status"] == "FAIL"
    assert "certificate is not trusted" in back["detail"] and "connection refused" not in back["detail"], back
    assert "set SESSIONSYNC_PEER_CA_FILE to the CA that signed it" in back["fix"]


def test_a_certificate_for_another_name_is_said_with_the_fix(peers: Peers) -> None:
    port = peers.back["b"].rsplit(":", 1)[1]
    result = peers.check(peers.peer("b", f"https://localhost:{port}"), SESSIONSYNC_PEER_CA_FILE=str(peers.ca.ca))
    back = back_channel(result)
    assert back["status"] == "FAIL"
    assert "certificate is not valid for localhost" in back["detail"], back
    assert "a certificate that covers localhost" in back["fix"]


def test_an_expired_certificate_is_said_with_the_fix(peers: Peers) -> None:
    result = peers.check(peers.peer("c"), SESSIONSYNC_PEER_CA_FILE=str(peers.ca.ca))
    back = back_channel(result)
    assert back["status"] == "FAIL"
    assert "certificate has expired" in back["detail"], back
    assert "renew" in back["fix"]


def test_the_peers_ca_file_makes_the_peer_reachable(peers: Peers) -> None:
    result = peers.check(peers.peer("b"), SESSIONSYNC_PEER_CA_FILE=str(peers.ca.ca))
    (peer,) = json.loads(result.stdout)["peers"]
    statuses = {c["name"]: c["status"] for c in peer["checks"]}
    # b.test does not resolve here: the browser URL cannot be checked (a warning).
    assert statuses == {
        "browser URL": "warn",
        "back-channel URL": "ok",
        "same key": "ok",
        "lists this site": "ok",
        "clock": "ok",
        "outbox": "ok",
    }, peer
    assert result.returncode == 0


def test_a_ca_file_that_cannot_be_read_is_a_config_error(peers: Peers, tmp_path: Path) -> None:
    base = {"SESSIONSYNC_SITE_URL": peers.urls["a"], "SESSIONSYNC_SECRET_KEYS": peers.secret}
    missing = run_cli("config", "check", env={**base, "SESSIONSYNC_PEER_CA_FILE": str(tmp_path / "none.pem")})
    assert missing.returncode != 0
    assert "SESSIONSYNC_PEER_CA_FILE" in missing.stdout + missing.stderr
    assert "cannot read" in missing.stdout + missing.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    wrong = run_cli("config", "check", env={**base, "SESSIONSYNC_PEER_CA_FILE": str(garbage)})
    assert wrong.returncode != 0 and "holds no CA certificate" in wrong.stdout + wrong.stderr


async def test_a_delivery_refused_by_tls_is_logged_as_such_and_the_ca_file_delivers_it(
    peers: Peers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_sessionsync")
    untrusting = peers.site_a()
    try:
        await untrusting.site.courier.broadcast_logout(ALICE[0], chain=None, when=time.time())
        (pending,) = await untrusting.site.stores.outbox.pending()
    finally:
        await untrusting.aclose()
    assert pending.last_error == "certificate not trusted"
    lines = [r.getMessage() for r in caplog.records if r.name == "asgi_sessionsync.backchannel"]
    failed = [line for line in lines if "failed (" in line]
    assert failed, lines
    assert f"logout message to {peers.urls['b']} failed (certificate not trusted), attempt 1" in failed[0]
    assert "set SESSIONSYNC_PEER_CA_FILE to the CA that signed it" in failed[0]
    assert "ConnectError" not in failed[0]

    caplog.clear()
    trusting = peers.site_a(peer_ca_file=str(peers.ca.ca))
    try:
        await trusting.site.courier.broadcast_logout(ALICE[0], chain=None, when=time.time())
        assert await trusting.site.stores.outbox.pending() == []
        delivered = [r.getMessage() for r in caplog.records if "delivered" in r.getMessage()]
        assert len(delivered) == 1 and f"logout message delivered to {peers.urls['b']}" in delivered[0], delivered
    finally:
        await trusting.aclose()
