"""The app's own message kinds (issue #26): ``send_message`` queues a signed payload of a
kind the network file declares (``app.<name>``) for each peer whose rules send it; the
receiver tells its ``app_message`` hooks when its rules accept that kind from that peer,
and refuses (logged, in both activity logs) what they do not. Between two real uvicorn
servers on SQLite stores, through the outbox and the back-channel."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.protocol import Purpose
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.tokens import Tokens
from tests.cli import run_cli
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports

USER = "ann@example.com"

A_RULES = """
[defaults]
"app.notes" = "both"
"app.secret" = "send"
"app.quiet" = "off"
"""
# B takes notes from A, and nothing of app.secret (it sends it only); app.quiet is not declared.
B_RULES = """
[defaults]
"app.notes" = "both"
"app.secret" = "send"
"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("app-messages")
    port_a, port_b = free_ports(2)
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    secret = generate_secret()
    envs = {}
    for name, url, peer, rules in (("a", a, b, A_RULES), ("b", b, a, B_RULES)):
        (tmp / f"{name}.toml").write_text(rules)
        envs[name] = {
            "SESSIONSYNC_SITE_URL": url,
            "SESSIONSYNC_SECRET_KEYS": secret,
            "SESSIONSYNC_PEERS": peer,
            "SESSIONSYNC_STORE": f"sqlite:///{tmp / name}.sqlite3",
            "SESSIONSYNC_NETWORK_FILE": str(tmp / f"{name}.toml"),
            "KIT_SITE_NAME": name,
            "KIT_APP_MESSAGES": "true",
        }
    with (
        serve_site_from_env(envs["a"], "127.0.0.1", port_a, tmp / "a.log"),
        serve_site_from_env(envs["b"], "127.0.0.1", port_b, tmp / "b.log"),
    ):
        yield {"a": a, "b": b, "env": envs, "logs": {"a": tmp / "a.log", "b": tmp / "b.log"}, "secret": secret}


def send(site: str, kind: str, payload: Any, user: str = "") -> httpx.Response:
    fields = {"kind": kind, "payload": json.dumps(payload), "user": user}
    return httpx.post(f"{site}/_kit/send", data=fields, timeout=10)


def received(site: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(f"{site}/_kit/received", timeout=10).json()
    return answer


def activity(env: dict[str, str], direction: str, kind: str) -> list[dict[str, Any]]:
    listed = run_cli("log", "--format", "json", "--direction", direction, env=env)
    assert listed.returncode == 0, listed.stderr
    return [e for e in json.loads(listed.stdout) if e["kind"] == kind]


def eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_an_app_message_reaches_the_peers_hook_and_both_activity_logs_say_applied(sites: dict[str, Any]) -> None:
    answer = send(sites["a"], "app.notes", {"text": "hello", "n": [1, 2.5, None, True]}, USER)
    assert answer.status_code == 200 and answer.json() == [sites["b"]], answer.text
    got = eventually(lambda: received(sites["b"]))
    assert got == [
        {"peer": sites["a"], "kind": "app.notes", "payload": {"text": "hello", "n": [1, 2.5, None, True]}, "user": USER}
    ]
    (entry,) = eventually(
        lambda: [e for e in activity(sites["env"]["a"], "sent", "app.notes") if e["outcome"] != "sent"]
    )
    assert entry["outcome"] == "applied" and entry["user"] == USER
    (entry,) = activity(sites["env"]["b"], "received", "app.notes")
    assert entry["outcome"] == "applied" and entry["peer"] == sites["a"]
    # And back: B's app sends A one.
    assert send(sites["b"], "app.notes", ["reply"]).json() == [sites["a"]]
    assert eventually(lambda: received(sites["a"])) == [
        {"peer": sites["b"], "kind": "app.notes", "payload": ["reply"], "user": ""}
    ]


def test_a_kind_the_receiver_does_not_accept_is_refused_and_both_logs_say_so(sites: dict[str, Any]) -> None:
    before = len(received(sites["b"]))
    assert send(sites["a"], "app.secret", {"x": 1}).json() == [sites["b"]]
    (entry,) = eventually(lambda: activity(sites["env"]["b"], "received", "app.secret"))
    assert entry["outcome"] == "refused" and "app.secret is not accepted from that peer" in entry["reason"]
    (sent,) = eventually(
        lambda: [e for e in activity(sites["env"]["a"], "sent", "app.secret") if e["outcome"] != "sent"]
    )
    assert sent["outcome"] == "refused"  # not "delivered": the receiver said what became of it
    assert len(received(sites["b"])) == before  # no hook was told
    text = eventually(
        lambda: "app.secret message from" in sites["logs"]["b"].read_text() and sites["logs"]["b"].read_text()
    )
    assert f"app.secret message from {sites['a']} refused: app.secret is not accepted from that peer" in text


def test_a_kind_declared_off_or_not_at_all_is_not_sent(sites: dict[str, Any]) -> None:
    assert send(sites["a"], "app.quiet", {}).json() == []  # declared, sent to nobody
    refused = send(sites["a"], "app.undeclared", {})
    assert refused.status_code == 400 and "app.undeclared is not declared in the network file" in refused.text
    assert send(sites["a"], "notes", {}).status_code == 400  # not app.<name>
    assert send(sites["a"], "app.notes", "x" * 40_000).status_code == 400  # over the size limit


def test_a_forged_kind_sealed_by_the_peer_is_refused_and_recorded(sites: dict[str, Any]) -> None:
    """An authentic envelope of a kind the receiver does not declare (a newer peer, or a
    peer's app the receiver's has not heard of) is refused, logged, and in its activity log."""
    env = {**sites["env"]["a"]}
    tokens = Tokens(Settings.from_env({k: v for k, v in env.items() if k.startswith("SESSIONSYNC_")}, env_file=None))
    for kind, jti in (("app.unheard", b"unheard-one"), ("bogus", b"bogus-one")):
        token = tokens.seal_for_peer(
            "default", sites["b"], Purpose.BACKCHANNEL, subject="", ttl=60, ip="", jti=jti, extra={"k": kind, "d": 1}
        )
        httpx.post(f"{sites['b']}/_sessionsync/backchannel", content=token, timeout=10)
    (entry,) = eventually(lambda: activity(sites["env"]["b"], "received", "app.unheard"))
    assert entry["outcome"] == "refused" and "app.unheard is not declared in the network file" in entry["reason"]
    (entry,) = activity(sites["env"]["b"], "received", "bogus")
    assert entry["outcome"] == "refused" and entry["reason"] == "unknown message kind"


def test_app_kinds_in_the_network_file_and_config_check(sites: dict[str, Any]) -> None:
    rules = NetworkRules.from_mapping(
        {"defaults": {"app.notes": "send"}, "peers": {"https://c.example": {"app.notes": "both", "app.more": "accept"}}}
    )
    assert rules.app_kinds() == {"app.notes", "app.more"}
    assert rules.for_peer("https://c.example").accepts("app.notes") and not rules.defaults.accepts("app.notes")
    assert not rules.defaults.sends("app.more")
    for bad in ({"app.Notes": "both"}, {"app.notes": "sometimes"}, {"app.": "both"}):
        with pytest.raises(ConfigError, match=r"an app kind is app\.<name>"):
            NetworkRules.from_mapping({"defaults": bad})
    checked = run_cli("config", "check", "--format", "json", env=sites["env"]["b"])
    assert checked.returncode == 0, checked.stderr
    (row,) = json.loads(checked.stdout)["matrix"]
    assert row["app-kinds"] == "app.notes=both, app.secret=send"
