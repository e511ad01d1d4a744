"""WP Remote Users Sync's wire format, pinned by what the real plugin sent.

tests/wprus/transcripts/wordpress-to-peer.json was recorded from WordPress 6.1.9 with WP
Remote Users Sync 2.1.5 (docs/wordpress.md): these tests open the plugin's own bytes with
this package's code, and check each refusal (a tampered bundle, a replayed token, a token
for another action, an unknown site). Where ``SESSIONSYNC_TEST_WPRUS_PLUGIN`` points at a
checkout of the plugin and php-cli is installed, the plugin's own crypto class opens what
this package seals.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import pytest

from asgi_sessionsync.exceptions import ConfigError, WprusRefused
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.stores.memory import MemoryReplayCache
from asgi_sessionsync.wprus import open_bundle, seal
from asgi_sessionsync.wprus.tokens import answer_token_request, issue, redeem

RECORDED = json.loads((Path(__file__).parent / "wprus" / "transcripts" / "wordpress-to-peer.json").read_text())
SECRETS = (RECORDED["encryption_secret"], RECORDED["signature_secret"])
WP, PEER = RECORDED["wordpress_url"], RECORDED["peer_url"]
EXCHANGES = {e["name"]: e for e in RECORDED["exchanges"]}


def _form(request: dict[str, str]) -> dict[str, str]:
    text = request["body"] if request["method"] == "POST" else request["query"]
    return {k: v[0] for k, v in parse_qs(text).items()}


def _rules() -> NetworkRules:
    table = {"encryption_secret": SECRETS[0], "signature_secret": SECRETS[1], "create": "accept"}
    return NetworkRules.from_mapping({"wprus": {WP: table}})


def _site() -> Any:
    site = _rules().wprus_site(WP)
    assert site is not None
    return site


@pytest.mark.parametrize("name", sorted(EXCHANGES))
def test_every_recorded_bundle_opens(name: str) -> None:
    exchange = EXCHANGES[name]
    data = open_bundle(_form(exchange["request"])["wprusdata"], *SECRETS)
    assert data["base_url"] == WP
    assert data["username"] in ("alice", "bob")
    action = exchange["request"]["path"].strip("/").split("/")[1]
    if exchange["token_request"] is not None:
        asked = open_bundle(_form(exchange["token_request"])["wprusdata"], *SECRETS)
        # The token request names the receiver (not the sender) and the action it is for.
        assert asked["action"] == action
        assert asked["method"] == ("get" if action in ("login", "logout") else "post")
        assert asked["base_url"].rstrip("/") == PEER
        assert _form(exchange["request"])["token"] == json.loads(exchange["token_answer"])["nonce"]


def test_what_each_action_carries() -> None:
    def opened(name: str) -> dict[str, Any]:
        return dict(open_bundle(_form(EXCHANGES[name]["request"])["wprusdata"], *SECRETS))

    create = opened("create")
    assert (create["user_login"], create["user_email"], create["display_name"]) == (
        "bob",
        "bob@example.com",
        "Bob Builder",
    )
    assert create["user_pass"] == "bob-pass-1"  # the password in plain text, when password is sent
    assert create["roles"] == {"set": "subscriber", "add": False}
    assert "user_pass" not in opened("update_name")
    assert opened("update_password")["user_pass"] == "bob-pass-2"
    assert opened("password_reset") == {"username": "bob", "user_pass": "bob-pass-3", "base_url": WP}
    assert opened("update_role_administrator")["roles"]["set"] == "administrator"
    assert opened("meta")["update"] == {"team": [{"meta_value": "blue", "prev_value": ""}]}
    assert opened("delete") == {"username": "bob", "reassign_username": False, "base_url": WP}
    assert opened("login_iframe") == {"username": "alice", "remember": 1, "base_url": WP}
    assert opened("logout_iframe") == {"username": "alice", "base_url": WP}
    strict = opened("login_redirect_strict")
    # The plugin's redirect mode drops the port from its callback URL.
    assert strict["callback_url"] == "http://wp.localhost/wp-admin/profile.php"


def test_a_tampered_bundle_is_refused() -> None:
    bundle = _form(EXCHANGES["password_reset"]["request"])["wprusdata"]
    raw = bytearray(base64.b64decode(bundle.replace("_", "/")))
    raw[-1] ^= 1  # one bit of the ciphertext
    tampered = base64.b64encode(bytes(raw)).decode().replace("/", "_")
    with pytest.raises(WprusRefused, match="signature"):
        open_bundle(tampered, *SECRETS)


def test_a_bundle_under_other_secrets_is_refused() -> None:
    bundle = _form(EXCHANGES["login_iframe"]["request"])["wprusdata"]
    with pytest.raises(WprusRefused):
        open_bundle(bundle, SECRETS[0], "another-signature-secret-0123")


def test_the_recorded_token_request_is_answered_with_a_token_used_once() -> None:
    site = _site()
    asked = _form(EXCHANGES["create"]["token_request"])["wprusdata"]
    answered_by, answer = answer_token_request((site,), asked)
    assert answered_by is site and answer["expiry"] == 0  # the plugin asks again before each action

    async def use() -> None:
        replay = MemoryReplayCache()
        await redeem(replay, site, "create", "post", answer["nonce"])
        with pytest.raises(WprusRefused, match="already used"):
            await redeem(replay, site, "create", "post", answer["nonce"])

    anyio.run(use)


def test_the_plugin_reuses_a_cached_token_and_this_site_refuses_the_second_use() -> None:
    first, second = EXCHANGES["create_token_cached"]["request"], EXCHANGES["update_same_token"]["request"]
    assert _form(first)["token"] == _form(second)["token"]  # what the plugin really does
    site = _site()

    async def use() -> None:
        replay = MemoryReplayCache()
        token = issue(site, "update", "post")
        await redeem(replay, site, "update", "post", token)
        with pytest.raises(WprusRefused, match="already used"):
            await redeem(replay, site, "update", "post", token)

    anyio.run(use)


def test_a_token_for_another_action_is_refused() -> None:

    site = _site()
    token = issue(site, "login", "get")
    with pytest.raises(WprusRefused, match="issued for login by get"):
        anyio.run(redeem, MemoryReplayCache(), site, "delete", "post", token)


def test_an_expired_token_is_refused() -> None:

    site = _site()
    token = issue(site, "login", "get", now=1_000_000.0)
    with pytest.raises(WprusRefused, match="expired"):
        anyio.run(redeem, MemoryReplayCache(), site, "login", "get", token)


def test_an_unknown_site_is_refused() -> None:

    site = _site()
    other = NetworkRules.from_mapping(
        {"wprus": {"https://other.example": {"encryption_secret": "x" * 20, "signature_secret": "y" * 20}}}
    ).wprus_site("https://other.example")
    assert other is not None
    # Its token requests open with no declared site's secrets …
    with pytest.raises(WprusRefused, match="no declared site"):
        answer_token_request((site,), seal({"action": "login", "method": "get", "base_url": PEER}, *other.secrets()))
    # … and a token it was issued is not the declared site's.
    with pytest.raises(WprusRefused, match="not one this site issued to that site"):
        anyio.run(redeem, MemoryReplayCache(), site, "login", "get", issue(other, "login", "get"))


def test_a_wprus_site_in_the_network_file_gets_rules_like_a_peer() -> None:
    rules = _rules()
    assert rules.for_peer(WP).accepts("create") and not rules.for_peer(WP).accepts("delete")
    assert rules.for_peer(WP).password_formats == ("scrypt",)
    with pytest.raises(ConfigError, match="exactly one of encryption_secret"):
        NetworkRules.from_mapping({"wprus": {WP: {"signature_secret": SECRETS[1]}}})
    with pytest.raises(ConfigError, match="at least 16"):
        NetworkRules.from_mapping({"wprus": {WP: {"encryption_secret": "short", "signature_secret": SECRETS[1]}}})
    with pytest.raises(ConfigError, match="token_expiry"):
        NetworkRules.from_mapping(
            {"wprus": {WP: {"encryption_secret": SECRETS[0], "signature_secret": SECRETS[1], "token_expiry": 5}}}
        )


PLUGIN = os.environ.get("SESSIONSYNC_TEST_WPRUS_PLUGIN", "")


@pytest.mark.skipif(not PLUGIN or shutil.which("php") is None, reason="needs SESSIONSYNC_TEST_WPRUS_PLUGIN and php")
def test_the_plugins_own_crypto_opens_what_this_site_seals() -> None:
    payload = {"username": "zoë", "remember": 1, "base_url": PEER}
    bundle = seal(payload, *SECRETS)
    script = (
        "define('ABSPATH', '/'); require getenv('CRYPTO');"
        "echo Wprus_Crypto::decrypt(getenv('BUNDLE'), getenv('AES'), getenv('HMAC'));"
    )
    env = {
        **os.environ,
        "CRYPTO": str(Path(PLUGIN) / "inc" / "class-wprus-crypto.php"),
        "BUNDLE": bundle,
        "AES": SECRETS[0],
        "HMAC": SECRETS[1],
    }
    out = subprocess.run(["php", "-r", script], env=env, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout) == payload


def test_each_recorded_user_change_maps_onto_this_sites_actions() -> None:
    from asgi_sessionsync.protocol import UserAction
    from asgi_sessionsync.wprus.mapping import changes, email_of

    def mapped(name: str) -> list[Any]:
        request = EXCHANGES[name]["request"]
        data = open_bundle(_form(request)["wprusdata"], *SECRETS)
        action = request["path"].strip("/").split("/")[1]
        return [
            (p.action, p.name, p.role, p.password_hash, p.meta) for p in changes(action, data, 1, lambda p: "H:" + p)
        ]

    assert mapped("create") == [(UserAction.CREATE, "Bob Builder", "subscriber", "H:bob-pass-1", None)]
    assert mapped("update_password") == [
        (UserAction.UPDATE, "Bob The Builder", None, None, None),
        (UserAction.ROLE, None, "subscriber", None, None),
        (UserAction.PASSWORD, None, None, "H:bob-pass-2", None),
    ]
    assert mapped("password_reset") == [(UserAction.PASSWORD, None, None, "H:bob-pass-3", None)]
    assert mapped("meta") == [(UserAction.META, None, None, None, {"team": "blue"})]
    assert mapped("delete") == [(UserAction.DELETE, None, None, None, None)]
    create = open_bundle(_form(EXCHANGES["create"]["request"])["wprusdata"], *SECRETS)
    assert email_of(create) == "bob@example.com"
    # A login carries the login name only: "alice" is not an email, so nobody is named.
    with pytest.raises(WprusRefused, match="not an email"):
        email_of(open_bundle(_form(EXCHANGES["login_iframe"]["request"])["wprusdata"], *SECRETS))


def test_a_password_from_wordpress_is_stored_as_an_scrypt_hash() -> None:
    from asgi_sessionsync.hash_costs import cost_problem
    from asgi_sessionsync.wprus.mapping import hash_password

    hashed = hash_password("bob-pass-3")
    assert hashed.startswith("scrypt$") and "bob-pass-3" not in hashed
    assert cost_problem(hashed) is None
