"""The network file (issue #14): defaults, per-peer tables, clear errors, the matrix in
``config check``, and the user message's wire payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.network_rules import ACTIONS, Direction, NetworkRules, hash_scheme
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.settings import Settings
from tests.cli import run_cli

KEY = generate_secret()
FILE = """
[defaults]
update = "both"
roles_accepted = ["member", "editor"]
meta_keys = ["locale"]

[peers."https://B.example.com"]
login = "accept"
logout = "send"
password = "accept"
password_formats = ["scrypt", "pbkdf2_sha256"]
"""


def env(**extra: str) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://a.example.com",
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_PEERS": "https://b.example.com,https://c.example.com",
        "SESSIONSYNC_STORE": "memory://",
        **extra,
    }


def test_defaults_are_todays_behaviour_and_user_actions_off() -> None:
    rules = NetworkRules()
    peer = rules.for_peer("https://b.example.com")
    assert [peer.direction(a) for a in ACTIONS] == [Direction.BOTH] * 2 + [Direction.OFF] * 6
    assert peer.refuses_role("admin", ["admin"]) is not None and peer.refuses_role("member", ["admin"]) is None


def test_a_peer_table_overrides_the_defaults_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "network.toml"
    path.write_text(FILE)
    rules = NetworkRules.load(path)
    b, c = rules.for_peer("https://b.example.com"), rules.for_peer("https://c.example.com")
    assert (b.sends("login"), b.accepts("login"), b.sends("logout"), b.accepts("logout")) == (False, True, True, False)
    assert b.accepts("update") and b.sends("update") and b.meta_keys == ("locale",)  # from the defaults
    assert b.allows_hash("pbkdf2_sha256$600000$x$y") and not b.allows_hash("argon2$x")
    assert c.direction("password") is Direction.OFF and c.roles_accepted == ("member", "editor")
    assert b.refuses_role("owner", ["admin"]) == "role 'owner' is not in roles_accepted"
    assert hash_scheme("no-dollar") == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[defaults]\nupdate = 'sometimes'", "update = 'sometimes' is not one of both, send, accept, off"),
        ("[defaults]\nupdat = 'both'", "unknown key(s) updat"),
        ("[peer]\nlogin = 'off'", "unknown section(s) peer"),
        ("[peers.'b.example.com']\nlogin = 'off'", "must name a peer by its origin"),
        ("[defaults]\npassword = 'both'", "needs password_formats"),
        ("[defaults]\nmeta_keys = 'locale'", "meta_keys must be a list of names"),
        ("[defaults]\naccept_privileged_roles = 'yes'", "accept_privileged_roles must be true or false"),
        ("[defaults\n", "is not valid TOML"),
        # Red-team #20: a deeply nested value was a RecursionError, not a ConfigError.
        ("[defaults]\nlogin = " + "[" * 1000 + "]" * 1000, "nested too deeply"),
        ("[defaults]\nlogin = " + "{a = " * 1000 + "1" + "}" * 1000, "nested too deeply"),
    ],
)
def test_a_bad_file_is_a_config_error_naming_the_variable_the_problem_and_an_example(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "network.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env(SESSIONSYNC_NETWORK_FILE=str(path)), env_file=None)
    assert raised.value.variable == "SESSIONSYNC_NETWORK_FILE"
    assert problem in str(raised.value) and raised.value.example


def test_a_missing_file_and_a_table_for_a_site_that_is_not_a_peer_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no network file at"):
        Settings.from_env(env(SESSIONSYNC_NETWORK_FILE=str(tmp_path / "nope.toml")), env_file=None)
    path = tmp_path / "network.toml"
    path.write_text("[peers.'https://z.example.com']\nlogin = 'off'\n")
    with pytest.raises(ConfigError, match=r"names https://z.example.com, not a peer of this site"):
        Settings.from_env(env(SESSIONSYNC_NETWORK_FILE=str(path)), env_file=None)


def test_config_check_prints_the_matrix_as_a_table_and_as_json(tmp_path: Path) -> None:
    path = tmp_path / "network.toml"
    path.write_text(FILE)
    # C is trusted for privileged accounts here (it may sign them in and change them), not to give roles.
    trusting = env(SESSIONSYNC_NETWORK_FILE=str(path), SESSIONSYNC_TRUSTED_FOR_PRIVILEGED="https://c.example.com")
    table = run_cli("config", "check", env=trusting)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("peer "))
    columns = ["peer", *ACTIONS, "privileged-accounts", "privileged-roles", "sources", "app-kinds"]
    assert lines[header].split() == columns
    b_row = ["https://b.example.com", "accept", "send", "off", "both", "off", "accept", "off", "off", "no", "no", "any"]
    b_row.append("none")
    assert lines[header + 1].split() == b_row
    assert lines[header + 2].split() == [
        "https://c.example.com",
        "both",
        "both",
        "off",
        "both",
        "off",
        "off",
        "off",
        "off",
        "yes",
        "no",
        "any",
        "none",
    ]
    as_json = run_cli("config", "check", "--format", "json", env=env(SESSIONSYNC_NETWORK_FILE=str(path)))
    matrix = json.loads(as_json.stdout)["matrix"]
    assert matrix[0] == {
        "peer": "https://b.example.com",
        **dict(zip(ACTIONS, ["accept", "send", "off", "both", "off", "accept", "off", "off"], strict=True)),
        "privileged-accounts": "no",
        "privileged-roles": "no",
        "sources": "any",
        "app-kinds": "none",
    }
    assert KEY not in table.stdout + as_json.stdout


def test_the_user_payload_round_trips_and_refuses_what_is_malformed() -> None:
    payload = UserActionPayload(
        UserAction.CREATE, 17, name="Ann", role="member", password_hash="scrypt$x", meta={"a": None}
    )
    assert UserActionPayload.from_wire(payload.to_wire()) == payload
    assert payload.to_wire() == {
        "k": "user",
        "a": "create",
        "v": 17,
        "d": {"n": "Ann", "r": "member", "p": "scrypt$x", "m": {"a": None}},
    }
    for bad in (
        {"k": "user", "a": "explode", "v": 1, "d": {}},
        {"k": "user", "a": "update", "v": 1, "d": {}},  # an update without the profile
        {"k": "user", "a": "delete", "v": True, "d": {}},
        {"k": "user", "a": "delete", "v": 0},
        {"k": "user", "a": "meta", "v": 3, "d": {"m": {"a": 1}}},
        {"k": "user", "a": "role", "v": 3, "d": {"r": 5}},
        {"k": "logout", "a": "delete", "v": 3},
    ):
        assert UserActionPayload.from_wire(bad) is None, bad
    assert UserActionPayload.from_wire({"k": "user", "a": "delete", "v": 3}) == UserActionPayload(UserAction.DELETE, 3)


def test_a_deep_policy_file_is_a_config_error_too(tmp_path: Path) -> None:
    """Red-team #20: ``read_toml`` serves the policy file as well."""
    from asgi_sessionsync.governance.policy import Policy

    path = tmp_path / "policy.toml"
    path.write_text("[defaults]\nmax_sessions = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as raised:
        Policy.load(path)
    assert raised.value.variable == "SESSIONSYNC_POLICY_FILE"
    assert f"{path} is not valid TOML: nested too deeply" in str(raised.value)
