"""The governance commands on a real SQLite store, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from asgi_sessionsync import record_failed_login
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import SessionRecord, User
from tests.cli import run_cli

POLICY = """
[defaults]
max_sessions = 3
max_sessions_per_ip = 2
on_limit = "end-oldest"
idle_timeout = "30m"
block_ips = ["192.0.2.0/24"]

[roles.editor]
max_sessions = 1
allow_ips = ["private", "198.51.100.0/24"]
idle_timeout = 0
"""


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://a.example",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": "https://b.example|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "SESSIONSYNC_LOGOUT_WAIT": "0.2",
        **extra,
    }


async def seed(env: dict[str, str]) -> list[str]:
    """Two users, three sessions (one ended); returns the sids, newest first."""
    site = Site(Settings.from_env(env, env_file=None))
    now = time.time()
    try:
        await site.stores.users.create(User("erin@example.com", "member", "Erin", password_hash="secret-hash"))
        rows = [
            SessionRecord("s-old", "erin@example.com", "c1", "https://a.example", "198.51.100.4", "UA", now - 9 * 86400,
                          now - 9 * 86400, "login", now - 8 * 86400, "signed out", country="DE",
                          device="desktop/Chrome/Linux"),
            SessionRecord("s-erin", "erin@example.com", "c2", "https://a.example", "198.51.100.4", "UA", now - 60,
                          now - 30, "hop from https://b.example", expires_at=now + 3600, country="FR",
                          device="mobile/Mobile Safari/iOS/browser"),
            SessionRecord("s-finn", "finn@example.com", "c3", "https://a.example", "203.0.113.9", "UA", now - 10,
                          now - 10, "login", expires_at=now + 3600),
        ]  # fmt: skip
        for record in rows:
            await site.stores.sessions.create(record)
    finally:
        await site.aclose()
    return ["s-finn", "s-erin", "s-old"]


async def test_sessions_list_shows_every_column_and_filters(tmp_path: Path) -> None:
    env = environment(tmp_path)
    await seed(env)
    table = run_cli("sessions", "list", env=env)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == [
        "id", "user", "site", "ip", "device", "client", "country", "how", "created", "last", "seen", "status"
    ]  # fmt: skip
    assert "3 session(s)" in table.stdout and "signed out" in table.stdout

    active = json.loads(run_cli("sessions", "list", "--active", "--format", "json", env=env).stdout)
    assert [r["id"] for r in active] == ["s-finn", "s-erin"]
    numbers = {"created_at", "last_seen_at", "ended_at", "end_reason"}  # the same times as epoch seconds
    assert active[1]["ended_at"] is None and active[1]["created_at"] > 0
    assert {k: v for k, v in active[1].items() if k not in numbers} | {"created": "", "last_seen": ""} == {
        "id": "s-erin",
        "user": "erin@example.com",
        "site": "https://a.example",
        "ip": "198.51.100.4",
        "device": "mobile/Mobile Safari/iOS",
        "client": "browser",
        "country": "FR",
        "how": "hop from https://b.example",
        "created": "",
        "last_seen": "",
        "status": "active",
        "ended": "",
        "chain": "c2",
    }
    by_ip = list(
        csv.DictReader(
            io.StringIO(run_cli("sessions", "list", "--ip", "198.51.100.4", "--format", "csv", env=env).stdout)
        )
    )
    assert [r["id"] for r in by_ip] == ["s-erin", "s-old"]
    recent = json.loads(
        run_cli("sessions", "list", "--since", "7d", "--user", "Erin@example.com", "--format", "json", env=env).stdout
    )
    assert [r["id"] for r in recent] == ["s-erin"]
    bad = run_cli("sessions", "list", "--since", "soon", env=env)
    assert bad.returncode == 2 and "7d" in bad.stderr


async def test_sessions_end_by_id_ends_its_sign_in_and_queues_it_for_the_peers(tmp_path: Path) -> None:
    env = environment(tmp_path)
    await seed(env)
    ended = run_cli("sessions", "end", "--id", "s-erin", env=env)
    assert ended.returncode == 0, ended.stderr
    assert "ended session s-erin of erin@example.com" in ended.stdout
    listed = json.loads(run_cli("sessions", "list", "--user", "erin@example.com", "--format", "json", env=env).stdout)
    assert listed[0]["status"] == "revoked by administrator"
    outbox = run_cli("outbox", "list", env=env)
    assert "1 message(s) not yet delivered" in outbox.stdout
    again = run_cli("sessions", "end", "--id", "s-erin", env=env)
    assert again.returncode == 1 and "no active session" in again.stderr
    by_user = run_cli("sessions", "end", "--user", "finn@example.com", env=env)
    assert "ended 1 session(s) of finn@example.com" in by_user.stdout


async def test_export_and_erase_one_users_history(tmp_path: Path) -> None:
    env = environment(tmp_path)
    await seed(env)
    exported = json.loads(run_cli("sessions", "export", "--user", "ERIN@example.com", env=env).stdout)
    assert exported["user"] == "erin@example.com"
    assert exported["account"]["role"] == "member" and "password_hash" not in exported["account"]
    assert [s["sid"] for s in exported["sessions"]] == ["s-erin", "s-old"]
    assert exported["sessions"][0]["country"] == "FR"

    erased = run_cli("sessions", "erase", "--user", "erin@example.com", env=env)
    assert erased.returncode == 0, erased.stderr
    assert "erased 2 session(s)" in erased.stdout and "1 were active" in erased.stdout
    assert json.loads(run_cli("sessions", "export", "--user", "erin@example.com", env=env).stdout)["sessions"] == []
    assert [r["id"] for r in json.loads(run_cli("sessions", "list", "--format", "json", env=env).stdout)] == ["s-finn"]


def test_policy_check_prints_the_effective_rules_per_role(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    checked = run_cli("policy", "check", env=environment(tmp_path, SESSIONSYNC_POLICY_FILE=str(policy)))
    assert checked.returncode == 0, checked.stderr
    out = checked.stdout
    assert f"policy is valid: {policy}" in out
    defaults, editor = out.split("[defaults]")[1].split("[roles.editor]")
    assert "max_sessions         3" in defaults and "idle_timeout         30m" in defaults
    assert "max_sessions         1" in editor and "max_sessions_per_ip  2" in editor  # inherited
    assert "on_limit             end-oldest" in editor and "private, 198.51.100.0/24" in editor
    assert "block_ips            192.0.2.0/24" in editor and "idle_timeout         (none)" in editor
    assert "no session policy" in run_cli("policy", "check", env=environment(tmp_path)).stdout


def test_policy_check_and_start_up_name_the_file_and_key_of_a_mistake(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[roles.editor]\non_limit = "kick"\n')
    checked = run_cli("policy", "check", env=environment(tmp_path, SESSIONSYNC_POLICY_FILE=str(policy)))
    assert checked.returncode == 2
    assert "SESSIONSYNC_POLICY_FILE" in checked.stderr and "[roles.editor] on_limit" in checked.stderr
    assert "Traceback" not in checked.stderr
    missing = run_cli("config", "check", env=environment(tmp_path, SESSIONSYNC_POLICY_FILE=str(tmp_path / "none.toml")))
    assert missing.returncode == 2 and "no policy file" in missing.stderr


async def test_analytics_in_every_format(tmp_path: Path) -> None:
    env = environment(tmp_path)
    await seed(env)
    site = Site(Settings.from_env(env, env_file=None))
    try:
        await record_failed_login(site, "Erin@example.com")  # #26: the app's failed-login signal
    finally:
        await site.aclose()
    as_json = json.loads(run_cli("analytics", "--since", "30d", "--format", "json", env=env).stdout)
    assert as_json["logins"] == {"here": 2, "via a peer": 1}
    assert as_json["failed_logins"] == {"known account": 1} and as_json["login_attempts"] == 3
    assert as_json["login_success"] == round(2 / 3, 4)
    assert as_json["spam_sessions"] == {} and as_json["password_resets"] == 0
    assert as_json["accounts"]["roles"] == {"member": 1} and as_json["accounts"]["total_created"] == 1
    assert (as_json["active_sessions"], as_json["active_users"]) == (2, 2)
    assert as_json["ended"] == {"signed out here": 1}
    assert as_json["countries"] == {"": 1, "DE": 1, "FR": 1}
    assert as_json["clients"] == {"": 2, "browser": 1}  # the two without a client type: recorded before them
    table = run_cli("analytics", env=env).stdout
    assert "active sessions" in table and "logins by how" in table and "per day" in table
    assert "sessions by client type" in table
    assert "login success                50.0%" in table and "users by role" in table  # 7 days: one login here
    rows = list(csv.reader(io.StringIO(run_cli("analytics", "--format", "csv", env=env).stdout)))
    assert rows[0] == ["section", "key", "value"] and ["kpi", "active users", "2"] in rows
    report = tmp_path / "report.html"
    made = run_cli("analytics", "--format", "html", "--output", str(report), env=env)
    assert made.returncode == 0, made.stderr
    html = report.read_text()
    assert (
        html.count("<svg") == 9  # #26: + accounts per day, users by role and by origin, failed logins
        and "login success" in html
        and "spam sessions" in html
        and "nothing in this period" in html
        and "<script" not in html
        and "http://" not in html.replace("https://a.example", "")
    )
    assert run_cli("analytics", "--format", "html", env=env).returncode == 2


async def test_erase_also_erases_the_users_activity_log_entries_and_says_what_it_keeps(tmp_path: Path) -> None:
    """#26: ``sessions erase`` left the user's activity-log entries (their email, with
    every sign-in and sign-out across sites). They go too; the output says what stays."""
    from asgi_sessionsync.stores import ActivityEntry, Direction, Outcome, new_id

    env = environment(tmp_path)
    await seed(env)
    site = Site(Settings.from_env(env, env_file=None))
    try:
        assert site.stores.activity is not None
        await site.stores.activity.record(
            [
                ActivityEntry(new_id(), time.time() - n, "https://a.example", Direction.RECEIVED, "https://b.example",
                              "login", user, Outcome.APPLIED, "by hop", "")
                for n, user in enumerate(["erin@example.com", "erin@example.com", "finn@example.com"])
            ]
        )  # fmt: skip
    finally:
        await site.aclose()
    erased = run_cli("sessions", "erase", "--user", "erin@example.com", env=env)
    assert erased.returncode == 0, erased.stderr
    out = erased.stdout
    # Two seeded, and the entry of this erase's own sign-out to B (B is down: failed).
    assert "and 3 activity-log entries about them" in out, out
    assert "kept:" in out and "the account" in out and "day counters" in out
    assert "1 sign-out message(s) to peers are still in the outbox" in out
    left = json.loads(run_cli("log", "--format", "json", env=env).stdout)
    assert [e["user"] for e in left] == ["finn@example.com"]
