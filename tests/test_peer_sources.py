"""Per-peer source addresses (#26): a peer's back-channel messages must come from the
addresses its ``sources`` list in the network file; a sealed message from elsewhere is
refused (it used to be applied), with a log line and an activity entry, and before it is
claimed, so the same message from the peer's own address still applies. The address is
the one the trusted-proxy rules give. Against a real uvicorn server, from two real
source addresses on loopback (127.0.0.1 and 127.0.0.2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.protocol import OUTCOME_HEADER, LogoutPayload, Purpose
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.tokens import Tokens
from tests.cli import run_cli
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports

A = "https://a.example"


def post_from(local: str, url: str, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=local)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.post(url, content=token, headers={"content-type": "text/plain", **(headers or {})})


def test_a_sealed_message_from_an_address_not_in_the_peers_sources_is_refused(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    secret = generate_secret()
    network = tmp_path / "network.toml"
    network.write_text(f'[peers."{A}"]\nsources = ["127.0.0.2", "10.9.0.0/16"]\n')
    store = tmp_path / "b.sqlite3"
    b_env = {
        "SESSIONSYNC_SITE_URL": base,
        "SESSIONSYNC_SECRET_KEYS": secret,
        "SESSIONSYNC_PEERS": f"{A}|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{store}",
        "SESSIONSYNC_NETWORK_FILE": str(network),
        # A proxy at 127.0.0.3: behind it, the client is the forwarded address.
        "SESSIONSYNC_TRUSTED_PROXIES": "127.0.0.3",
    }
    a_env = {
        "SESSIONSYNC_SITE_URL": A,
        "SESSIONSYNC_SECRET_KEYS": secret,
        "SESSIONSYNC_PEERS": base,
        "SESSIONSYNC_STORE": "memory://",
    }
    tokens = Tokens(Settings.from_env(a_env, env_file=None))

    def sealed(jti: bytes) -> str:
        wire = LogoutPayload(None, time.time()).to_wire()
        return tokens.seal_for_peer(
            "default", base, Purpose.BACKCHANNEL, subject="ann@example.com", ttl=60, ip="", jti=jti, extra=wire
        )

    url = f"{base}/_sessionsync/backchannel"
    log = tmp_path / "b.log"
    with serve_site_from_env(b_env, "127.0.0.1", port, log):
        message = sealed(b"message-one")
        elsewhere = post_from("127.0.0.1", url, message)
        assert elsewhere.status_code == 400 and elsewhere.text == "refused"
        assert OUTCOME_HEADER not in elsewhere.headers
        # The same message from the peer's own address: applied (it was not used up).
        own = post_from("127.0.0.2", url, message)
        assert own.status_code == 204 and own.headers[OUTCOME_HEADER] == "applied"
        # Through the proxy: the forwarded client counts, not the proxy's own address.
        proxied_ok = post_from("127.0.0.3", url, sealed(b"message-two"), {"x-forwarded-for": "10.9.4.4"})
        assert proxied_ok.status_code == 204, proxied_ok.text
        proxied_bad = post_from("127.0.0.3", url, sealed(b"message-three"), {"x-forwarded-for": "198.51.100.9"})
        assert proxied_bad.status_code == 400
        # A forwarded header from a client that is not a proxy is not read. (Not from
        # 127.0.0.1: uvicorn's own --forwarded-allow-ips trusts that one by default.)
        forged = post_from("127.0.0.4", url, sealed(b"message-four"), {"x-forwarded-for": "127.0.0.2"})
        assert forged.status_code == 400

    text = log.read_text()
    assert (
        f"back-channel message refused: sent from 127.0.0.1, not from one of {A}'s sources "
        "(127.0.0.2/32, 10.9.0.0/16: the network file's sources)"
    ) in text
    assert "sent from 198.51.100.9" in text
    listed = run_cli("log", "--format", "json", "--direction", "received", env=b_env)
    assert listed.returncode == 0, listed.stderr
    entries = sorted((e["message_id"], e["outcome"], e["reason"][:24]) for e in json.loads(listed.stdout))
    assert entries == [
        ("message-four", "refused", "sent from 127.0.0.4, not"),
        ("message-one", "applied", "0 session(s) ended"),
        ("message-one", "refused", "sent from 127.0.0.1, not"),
        ("message-three", "refused", "sent from 198.51.100.9, "),
        ("message-two", "applied", "0 session(s) ended"),
    ]
    checked = run_cli("config", "check", "--format", "json", env=b_env)
    assert checked.returncode == 0, checked.stderr
    (row,) = json.loads(checked.stdout)["matrix"]
    assert row["peer"] == A and row["sources"] == "127.0.0.2/32, 10.9.0.0/16"
    table = run_cli("config", "check", env=b_env)
    assert "127.0.0.2/32, 10.9.0.0/16" in table.stdout


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"127.0.0.2"', "sources must be a list of addresses or networks"),
        ("[]", "sources must be a list of addresses or networks"),
        ('["127.0.0.300"]', "sources: '127.0.0.300' is not an IP address or CIDR network"),
    ],
)
def test_a_sources_list_that_is_not_addresses_is_a_configuration_error(value: str, problem: str) -> None:
    import tomllib

    with pytest.raises(ConfigError, match=problem):
        NetworkRules.from_mapping(tomllib.loads(f'[peers."{A}"]\nsources = {value}\n'))


def test_sources_are_per_peer_and_absent_means_anywhere() -> None:
    rules = NetworkRules.from_mapping({"peers": {A: {"sources": ["192.0.2.0/24", "2001:db8::1"]}}})
    peer = rules.for_peer(A)
    assert peer.admits_source("192.0.2.77") and peer.admits_source("::ffff:192.0.2.5")
    assert peer.admits_source("2001:db8::1") and not peer.admits_source("2001:db8::2")
    assert not peer.admits_source("198.51.100.1") and not peer.admits_source(None)
    assert rules.for_peer("https://c.example").admits_source("198.51.100.1")  # no list: anywhere
