"""The command line on a real SQLite store: list sessions, revoke them, see the outbox."""

from __future__ import annotations

import json
from pathlib import Path

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import User
from tests.cli import run_cli


async def test_sessions_list_revoke_and_outbox_on_a_sqlite_store(tmp_path: Path) -> None:
    env = {
        "SESSIONSYNC_SITE_URL": "https://a.example",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        # A peer nobody answers for: the revocation must wait in the outbox.
        "SESSIONSYNC_PEERS": "https://b.example|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "SESSIONSYNC_LOGOUT_WAIT": "0.5",
    }
    service = Site(Settings.from_env(env, env_file=None))
    user = await service.stores.users.create(User("erin@example.com", "member"))
    scope = {"headers": [(b"user-agent", b"TestBrowser/1")], "client": ("198.51.100.4", 1)}
    for _ in range(2):
        await service.starter.start(user, chain=None, scope=scope, via="login")
    await service.aclose()

    listed = run_cli("sessions", "list", "--user", "erin@example.com", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("erin@example.com") == 2 and "active" in listed.stdout

    revoked = run_cli("sessions", "revoke", "--user", "erin@example.com", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked 2 session(s)" in revoked.stdout

    after = run_cli("sessions", "list", "--user", "erin@example.com", "--all", env=env)
    assert after.stdout.count("revoked by administrator") == 2

    outbox = run_cli("outbox", "list", env=env)
    assert "1 message(s) not yet delivered" in outbox.stdout
    assert "logout" in outbox.stdout and "https://b.example" in outbox.stdout
    assert "ConnectError" in outbox.stdout


FORMULAS = ('=HYPERLINK("http://evil.example")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx")


def test_sessions_list_csv_neutralises_formulas_and_nothing_else() -> None:
    """Red-team #20: a user agent or an email starting with ``=`` became a spreadsheet
    formula in ``sessions list --format csv``. Cells starting with = + - @ tab or CR get a
    leading ``'`` (OWASP), in CSV only."""
    import csv
    import io

    from asgi_sessionsync.governance.commands import print_sessions
    from asgi_sessionsync.stores import SessionRecord

    records = [
        SessionRecord(f"sid{i}", f"{text}@example.com", "chain", "https://a.example", "198.51.100.4", text, 1.0, 2.0)
        for i, text in enumerate(FORMULAS)
    ]
    out = io.StringIO()
    print_sessions(records, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    for text, row in zip(FORMULAS, rows, strict=True):
        assert row["user"] == f"'{text}@example.com"
        assert row["ip"] == "198.51.100.4" and row["created_at"] == "1.0"
    as_json = io.StringIO()
    print_sessions(records, "json", as_json)
    assert '"user": "=HYPERLINK' in as_json.getvalue()  # only CSV is changed


async def test_sessions_end_takes_a_unique_beginning_of_an_id_and_refuses_an_ambiguous_one(tmp_path: Path) -> None:
    """#26: ``sessions end --id`` with the beginning of an id said the session was not
    active. A unique beginning among the active sessions ends that one; one shared by
    two is an error naming how many, and ends nothing."""
    from asgi_sessionsync.stores import SessionRecord

    env = {
        "SESSIONSYNC_SITE_URL": "https://a.example",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": "https://b.example|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "SESSIONSYNC_LOGOUT_WAIT": "0.2",
    }
    service = Site(Settings.from_env(env, env_file=None))
    await service.stores.users.create(User("erin@example.com", "member"))
    for sid, chain in (
        ("Qx7aaaaaaaaaaaaaaaaaaaaa", "c1"),
        ("Qx7bbbbbbbbbbbbbbbbbbbbb", "c2"),
        ("Zz9ccccccccccccccccccccc", "c3"),
    ):
        await service.stores.sessions.create(
            SessionRecord(sid, "erin@example.com", chain, "https://a.example", "198.51.100.4", "UA", 1.0, 2.0)
        )
    await service.aclose()

    ambiguous = run_cli("sessions", "end", "--id", "Qx7", env=env)
    assert ambiguous.returncode == 2, ambiguous.stdout + ambiguous.stderr
    assert "2 active sessions have an id starting 'Qx7'" in ambiguous.stderr

    ended = run_cli("sessions", "end", "--id", "Zz9c", env=env)
    assert ended.returncode == 0, ended.stderr
    assert "ended session Zz9ccccccccccccccccccccc of erin@example.com" in ended.stdout

    exact = run_cli("sessions", "end", "--id", "Qx7aaaaaaaaaaaaaaaaaaaaa", env=env)
    assert exact.returncode == 0, exact.stderr

    listed = run_cli("sessions", "list", "--format", "json", env=env)
    status = {row["id"]: row["status"] for row in json.loads(listed.stdout)}
    assert status == {
        "Qx7aaaaaaaaaaaaaaaaaaaaa": "revoked by administrator",
        "Qx7bbbbbbbbbbbbbbbbbbbbb": "active",
        "Zz9ccccccccccccccccccccc": "revoked by administrator",
    }
    gone = run_cli("sessions", "end", "--id", "Zz9", env=env)  # ended already: no active one starts so
    assert gone.returncode == 1 and "no active session with an id starting 'Zz9'" in gone.stderr
