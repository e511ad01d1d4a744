"""Verification by hand and at registration (issue #26): an operator's marks through
``python -m asgi_sessionsync verified`` (a real SQLite file), and an app's through
``mark_verified``, judged by a peer that requires verified addresses."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from asgi_sessionsync import mark_verified
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import revoke_verified
from tests.cli import run_cli
from tests.test_verified_email import USER, A, issuer_app, network, sign_in_on_a

B = "https://b.example"


def env(tmp_path: Path) -> dict[str, str]:
    sqlite3.connect(tmp_path / "site.sqlite3").close()  # the site has run: its store is there
    return {
        "SESSIONSYNC_SITE_URL": B,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": f"{A}|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
    }


def test_an_operator_marks_lists_and_revokes_and_the_log_says_so(tmp_path: Path) -> None:
    e = env(tmp_path)
    done = run_cli("verified", "mark", "Ann@Example.com", "--issuer", A, "--issuer", B, env=e)
    assert done.returncode == 0, done.stderr
    assert f"ann@example.com marked verified for sign-ins from {A}" in done.stdout
    done = run_cli("verified", "mark", "bob@example.com", "--not", env=e)
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_cli("verified", "list", "--format", "json", env=e).stdout)
    assert [(m["email"], m["issuer"], m["verified"], m["by"]) for m in listed] == [
        ("ann@example.com", A, True, "operator"),
        ("ann@example.com", B, True, "operator"),
        ("bob@example.com", B, False, "operator"),
    ]
    table = run_cli("verified", "list", "--email", "bob@example.com", env=e).stdout
    assert "bob@example.com" in table and "NO" in table and "ann@" not in table
    done = run_cli("verified", "revoke", "ann@example.com", "--issuer", A, env=e)
    assert done.returncode == 0 and "revoked 1 mark(s)" in done.stdout
    done = run_cli("verified", "revoke", "ann@example.com", "--env-file", "/dev/null", env=e, env_file=None)
    assert done.returncode == 0 and "revoked 1 mark(s)" in done.stdout, done.stderr
    assert [m["email"] for m in json.loads(run_cli("verified", "list", "--format", "json", env=e).stdout)] == [
        "bob@example.com"
    ]
    log = json.loads(run_cli("log", "--user", "ann@example.com", "--format", "json", env=e).stdout)
    assert sorted(entry["kind"] for entry in log) == ["verify.mark", "verify.mark", "verify.revoke", "verify.revoke"]
    assert {entry["direction"] for entry in log} == {"local"}


def test_an_issuer_that_is_no_peer_is_refused(tmp_path: Path) -> None:
    done = run_cli("verified", "mark", "ann@example.com", "--issuer", "https://c.example", env=env(tmp_path))
    assert done.returncode == 2 and "neither this site nor one of its peers" in done.stderr


async def test_a_mark_not_verified_outranks_the_issuers_word_until_revoked() -> None:
    async with network("issuer") as net:
        b = net.sites["b"].site
        await mark_verified(b, USER, verified=False, issuer=A)
        browser, _ = await sign_in_on_a(net, verified=True)
        assert await browser.who("b") is None  # A vouched, B's operator said no
        assert await revoke_verified(b, USER, issuer=A) == 1
        browser, _ = await sign_in_on_a(net, verified=True)
        assert await browser.who("b") == USER


async def test_an_address_verified_at_registration_is_vouched_for_at_later_sign_ins() -> None:
    # A's app verified the address at registration (mark_verified), not at this sign-in:
    # C, which requires verified addresses, takes the sign-in all the same.
    apps = {"a": issuer_app(), "c": login_app("c")}
    async with SiteNetwork(
        apps, settings={"catchup": False}, site_settings={"c": {"require_verified_email": "issuer"}}
    ) as net:
        browser = net.browser()
        await browser.get(f"{A}/login", params={"email": USER, "verified": "0"})
        assert await browser.who("c") is None
        await mark_verified(net.sites["a"].site, USER)
        other = net.browser()
        await other.get(f"{A}/login", params={"email": USER, "verified": "0"})
        assert await other.who("c") == USER
