"""Settings from the environment, a .env file and code; errors that say what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asgi_sessionsync.client_ip import BindingMode
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Peer, Settings, SyncMode, documented_variables
from tests.cli import run_cli

KEY = generate_secret()
KEY2 = generate_secret()
ROOT = Path(__file__).resolve().parent.parent


def base_env(**extra: str) -> dict[str, str]:
    env = {
        "SESSIONSYNC_SITE_URL": "https://a.example.com",
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_PEERS": "https://b.example.com, https://c.example.com|http://10.0.0.3:8000",
    }
    env.update(extra)
    return env


def test_environment_gives_site_network_and_peers_with_backchannel_urls() -> None:
    settings = Settings.from_env(base_env(), env_file=None)
    assert settings.origin == "https://a.example.com"
    (network,) = settings.networks
    assert network.name == "default"
    assert [p.url for p in network.peers] == ["https://b.example.com", "https://c.example.com"]
    assert network.peers[0].backchannel_url == "https://b.example.com"
    assert network.peers[1].backchannel_url == "http://10.0.0.3:8000"


def test_defaults_are_safe() -> None:
    settings = Settings.from_env(base_env(), env_file=None)
    assert settings.ip_binding is BindingMode.PREFIX
    assert (settings.ip_prefix_v4, settings.ip_prefix_v6) == (24, 64)
    assert settings.sync_mode is SyncMode.BOUNCE
    assert settings.path_prefix == "/_sessionsync/"
    assert settings.samesite == "lax"
    assert settings.secure is True
    assert settings.trusted_proxies == ()


def test_code_wins_over_environment_and_environment_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        f'SESSIONSYNC_SYNC_MODE="frame"\nSESSIONSYNC_COOKIE_NAME=fromfile\nSESSIONSYNC_SECRET_KEYS={KEY}\n'
    )
    env = {"SESSIONSYNC_SITE_URL": "https://a.example.com", "SESSIONSYNC_COOKIE_NAME": "fromenv"}
    settings = Settings.from_env(env, env_file=env_file, hop_lifetime=12)
    assert settings.sync_mode is SyncMode.FRAME  # from the file
    assert settings.cookie_name == "fromenv"  # environment beats file
    assert settings.hop_lifetime == 12  # code beats both
    overridden = Settings.from_env(env, env_file=env_file, cookie_name="fromcode")
    assert overridden.cookie_name == "fromcode"


def test_settings_can_be_given_entirely_in_code() -> None:
    settings = Settings.from_env(
        {},
        env_file=None,
        site_url="http://a.localhost:8001",
        secret_keys=[KEY],
        peers=[Peer("http://b.localhost:8002", "http://127.0.0.1:8002")],
        sync_mode="auto",
    )
    assert settings.sync_mode is SyncMode.AUTO
    assert settings.samesite == "none" and settings.secure  # *.localhost is a secure context
    assert settings.networks[0].peers[0].backchannel_url == "http://127.0.0.1:8002"


def test_several_networks_each_with_keys_and_peers() -> None:
    env = base_env(
        SESSIONSYNC_NETWORKS="partners",
        SESSIONSYNC_NETWORK_PARTNERS_SECRET_KEYS=KEY2,
        SESSIONSYNC_NETWORK_PARTNERS_PEERS="https://partner.example.org",
    )
    settings = Settings.from_env(env, env_file=None)
    assert [n.name for n in settings.networks] == ["default", "partners"]
    assert settings.networks[1].peers[0].origin == "https://partner.example.org"


def test_same_key_in_two_networks_is_refused() -> None:
    env = base_env(SESSIONSYNC_NETWORKS="partners", SESSIONSYNC_NETWORK_PARTNERS_SECRET_KEYS=KEY)
    with pytest.raises(ConfigError, match="share a secret key"):
        Settings.from_env(env, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SESSIONSYNC_SITE_URL", "ftp://x", "not an http"),
        ("SESSIONSYNC_IP_BINDING", "loose", "not one of exact, prefix, off"),
        ("SESSIONSYNC_IP_PREFIX_V4", "40", "prefix length"),
        ("SESSIONSYNC_SYNC_MODE", "magic", "not one of bounce, frame, auto"),
        ("SESSIONSYNC_HOP_LIFETIME", "soon", "not a duration"),
        ("SESSIONSYNC_PATH_PREFIX", "sync", "start and end with"),
        ("SESSIONSYNC_TRUSTED_PROXIES", "10.0.0.1,proxy.local", "not an IP address"),
        ("SESSIONSYNC_AUTO_PROVISION", "maybe", "not a boolean"),
        ("SESSIONSYNC_STORE", "postgres://x", "not a store location"),
        ("SESSIONSYNC_PEERS", "b.example.com", "not an http"),
    ],
)
def test_invalid_value_names_variable_problem_and_example(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(base_env(**{variable: value}), env_file=None)
    assert caught.value.variable == variable
    assert expected in str(caught.value)
    assert "example:" in str(caught.value)


def test_missing_site_url_and_keys_are_reported() -> None:
    with pytest.raises(ConfigError, match="SESSIONSYNC_SITE_URL: is required"):
        Settings.from_env({"SESSIONSYNC_SECRET_KEYS": KEY}, env_file=None)
    with pytest.raises(ConfigError, match="keys generate"):
        Settings.from_env({"SESSIONSYNC_SITE_URL": "https://a.example.com"}, env_file=None)


def test_weak_secret_error_does_not_echo_the_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(base_env(SESSIONSYNC_SECRET_KEYS="hunter2hunter2"), env_file=None)
    assert "hunter2" not in str(caught.value)


def test_frame_mode_on_plain_http_is_refused() -> None:
    env = base_env(SESSIONSYNC_SITE_URL="http://a.example.com", SESSIONSYNC_SYNC_MODE="frame")
    with pytest.raises(ConfigError, match="SameSite=None needs Secure"):
        Settings.from_env(env, env_file=None)


def test_secrets_never_appear_in_repr() -> None:
    app_secret = generate_secret()
    settings = Settings.from_env(
        base_env(SESSIONSYNC_IDENTITY="starlette-session", SESSIONSYNC_APP_SESSION_SECRET=app_secret), env_file=None
    )
    text = repr(settings) + str(settings.describe())
    assert KEY not in text and app_secret not in text
    assert "**********" in text


def test_cli_keys_generate_prints_a_usable_secret() -> None:
    result = run_cli("keys", "generate", env={})
    assert result.returncode == 0
    key = result.stdout.strip()
    assert Settings.from_env(base_env(SESSIONSYNC_SECRET_KEYS=key), env_file=None).networks[0].secret_keys


def test_cli_config_check_prints_effective_settings_with_secrets_masked() -> None:
    result = run_cli("config", "check", env=base_env())
    assert result.returncode == 0, result.stderr
    assert "SESSIONSYNC_SYNC_MODE" in result.stdout and "bounce" in result.stdout
    assert "https://c.example.com | http://10.0.0.3:8000" in result.stdout
    assert KEY not in result.stdout


def test_cli_config_check_fails_with_the_variable_named() -> None:
    result = run_cli("config", "check", env=base_env(SESSIONSYNC_IP_BINDING="loose"))
    assert result.returncode == 2
    assert "SESSIONSYNC_IP_BINDING" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_setting_is_documented_in_the_docs_table() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    for variable, _, _ in documented_variables():
        assert f"`{variable}`" in docs, variable
    for variable in ("SESSIONSYNC_SECRET_KEYS", "SESSIONSYNC_PEERS", "SESSIONSYNC_NETWORKS"):
        assert f"`{variable}`" in docs


def test_a_dot_env_file_is_read_only_when_asked_and_said_when_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue #21: reading .env is explicit. One in the working directory that is not read
    # is said, so nobody starts on other settings than the file's without knowing.
    (tmp_path / ".env").write_text(f"SESSIONSYNC_SITE_URL=https://a.example.com\nSESSIONSYNC_SECRET_KEYS={KEY}\n")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("SESSIONSYNC_")]:
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="SESSIONSYNC_SITE_URL"):
        Settings.from_env()
    assert ".env holds SESSIONSYNC_ settings and is not read: pass env_file='.env'" in caplog.text
    assert Settings.from_env(env_file=".env").site_url == "https://a.example.com"
    noted = run_cli("config", "check", env={}, env_file=None, cwd=tmp_path)
    assert "note: .env holds SESSIONSYNC_ settings and is not read: add --env-file .env" in noted.stderr
    assert run_cli("config", "check", env={}, env_file=".env", cwd=tmp_path).returncode == 0
