"""``config check`` with WordPress sites in the network file: each in the peer table, and
one line per site with what it guarantees less than a native peer. And WordPress login
names: a create carries ``user_email`` (the user here is that email, whatever the login
name); a message that carries only a login name that is not an email (the recorded
password reset of ``bob``) is refused by a real server, said in the log, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from asgi_sessionsync.keys import generate_secret
from tests.cli import run_cli
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports

RECORDED = json.loads((Path(__file__).parent / "wprus" / "transcripts" / "wordpress-to-peer.json").read_text())
WP = RECORDED["wordpress_url"]
EX = {e["name"]: e for e in RECORDED["exchanges"]}


def _network(tmp_path: Path, extra: str = "") -> Path:
    network = tmp_path / "network.toml"
    network.write_text(
        f'[wprus."{WP}"]\nencryption_secret = "{RECORDED["encryption_secret"]}"\n'
        f'signature_secret = "{RECORDED["signature_secret"]}"\ntoken_expiry = 900\n'
        'login = "both"\ncreate = "accept"\npassword = "accept"\nupdate = "send"\n' + extra
    )
    return network


def _env(tmp_path: Path, network: Path) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://app.example.com",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "SESSIONSYNC_NETWORK_FILE": str(network),
    }


def test_config_check_says_per_wordpress_site_what_it_guarantees_less(tmp_path: Path) -> None:
    result = run_cli("config", "check", env=_env(tmp_path, _network(tmp_path)))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "WordPress sites (WP Remote Users Sync), what each guarantees less than a peer" in out
    [line] = [x.strip() for x in out.splitlines() if x.strip().startswith(f"{WP}: ")]
    assert "AES-256-CBC + HMAC-SHA256 bundles bound to no time, receiver or action" in line
    assert "used again for 900s by the plugin" in line
    assert "passwords travel in plain text" in line
    assert "need third-party cookies" in line
    assert "names a user here only when the WordPress login name is an email" in line
    assert "WordPress does not say whether a change it got was applied" in line
    assert "no sources: its server-to-server requests are taken from any address" in line
    # It is in the peer table too, with its directions.
    [row] = [x for x in out.splitlines() if x.startswith(WP)]
    assert "both" in row and "accept" in row and "send" in row
    as_json = json.loads(run_cli("config", "check", "--format", "json", env=_env(tmp_path, _network(tmp_path))).stdout)
    assert as_json["wordpress"] == [line]
    assert RECORDED["signature_secret"] not in result.stdout + json.dumps(as_json)


def test_with_sources_and_no_password_the_line_says_less(tmp_path: Path) -> None:
    network = tmp_path / "n2.toml"
    network.write_text(
        f'[wprus."{WP}"]\nencryption_secret = "{"x" * 20}"\nsignature_secret = "{"y" * 20}"\n'
        'login = "off"\nlogout = "off"\nsources = ["10.0.0.0/8"]\n'
    )
    out = run_cli("config", "check", env=_env(tmp_path, network)).stdout
    [line] = [x.strip() for x in out.splitlines() if x.strip().startswith(f"{WP}: ")]
    assert "plain text" not in line and "third-party cookies" not in line and "no sources" not in line
    assert "iframe logins are refused" not in line  # it takes no login


def test_in_bounce_mode_the_line_says_iframe_logins_are_refused(tmp_path: Path) -> None:
    env = {**_env(tmp_path, _network(tmp_path)), "SESSIONSYNC_SYNC_MODE": "bounce"}
    out = run_cli("config", "check", env=env).stdout
    [line] = [x.strip() for x in out.splitlines() if x.strip().startswith(f"{WP}: ")]
    assert "its iframe logins are refused here (this site's session cookie is SameSite=lax" in line


def test_a_login_name_that_is_not_an_email_is_refused_where_the_message_has_no_email(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    env = {**_env(tmp_path, _network(tmp_path, 'sources = ["127.0.0.1"]\n')), "SESSIONSYNC_SITE_URL": base}
    log = tmp_path / "site.log"

    def post(action: str, body: str, token: str | None = None) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(body).items()}
        if token is not None:
            form["token"] = token  # this site's, in place of the recorded one
        return httpx.post(f"{base}/_sessionsync/wprus/{action}/", data=form, timeout=10)

    def token(name: str) -> str:
        return str(post("token", EX[name]["token_request"]["body"]).json()["nonce"])

    with serve_site_from_env(env, "127.0.0.1", port, log):
        # bob's create carries user_email: bob@example.com here, whatever his login name.
        assert post("create", EX["create"]["request"]["body"], token("create")).status_code == 200
        # His password reset names only the login name "bob": nobody here; refused, said.
        reset = EX["password_reset"]["request"]["body"]
        assert post("password", reset, token("password_reset")).status_code == 403
    text = log.read_text()
    assert f"WP Remote Users Sync create from {WP} for bob@example.com: applied" in text
    assert (
        "WP Remote Users Sync password request refused: the WordPress login name is not an email address "
        "and the message carries no email" in text
    )
    assert "bob-pass-3" not in text
