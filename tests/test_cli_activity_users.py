"""``log`` and ``users export|import`` as a user runs them, on a real SQLite store."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import ActivityEntry, Direction, Outcome, User, new_id, sqlite_stores
from tests.cli import run_cli


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://a.example",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
    }


def entry(at: float, **fields: object) -> ActivityEntry:
    values: dict[str, object] = {
        "id": new_id(),
        "at": at,
        "site": "https://a.example",
        "direction": Direction.SENT,
        "peer": "https://b.example",
        "kind": "logout",
        "user": "ann@example.com",
        "outcome": Outcome.DELIVERED,
        "reason": "",
        "message_id": "Xk2v9Qe1bT0aZZZZ",
    }
    values.update(fields)
    return ActivityEntry(**values)  # type: ignore[arg-type]


async def test_log_lists_filters_and_formats_the_activity_log(tmp_path: Path) -> None:
    env = environment(tmp_path)
    now = time.time()
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    assert stores.activity is not None
    await stores.activity.record(
        [
            entry(now - 7200, kind="login", outcome=Outcome.SENT, message_id=""),
            entry(now - 60, outcome=Outcome.FAILED, reason="HTTP 503 (attempt 1)"),
            entry(
                now - 30,
                direction=Direction.RECEIVED,
                peer="https://c.example",
                user="bob@example.com",
                outcome=Outcome.REFUSED,
                reason="bad tag",
            ),
        ]
    )
    await stores.close()

    table = run_cli("log", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["time", "site", "direction", "peer", "kind", "user", "outcome", "message"]
    assert len(lines) == 5 and lines[-1] == "3 entries (times in UTC)"
    assert all("https://a.example" in line for line in lines[1:4])  # each line names the site
    assert "refused: bad tag" in lines[1] and "← received" in lines[1]
    assert "failed: HTTP 503 (attempt 1)" in lines[2] and "Xk2v9Qe1bT0a" in lines[2]

    recent = run_cli("log", "--since", "1h", "--format", "json", env=env)
    rows = json.loads(recent.stdout)
    assert [r["outcome"] for r in rows] == ["refused", "failed"]
    assert rows[0]["site"] == "https://a.example" and rows[0]["time"].endswith("Z")

    only = run_cli("log", "--peer", "https://c.example/", "--outcome", "refused", "--format", "json", env=env)
    assert [r["user"] for r in json.loads(only.stdout)] == ["bob@example.com"]
    assert json.loads(run_cli("log", "--user", "BOB@example.com", "--format", "json", env=env).stdout)[0]["peer"] == (
        "https://c.example"
    )
    kinds = run_cli("log", "--kind", "login", "--format", "csv", env=env)
    assert kinds.stdout.splitlines()[0].startswith("time,at,site,direction,peer,kind")
    assert len(kinds.stdout.splitlines()) == 2
    assert len(json.loads(run_cli("log", "--limit", "1", "--format", "json", env=env).stdout)) == 1
    bad = run_cli("log", "--outcome", "maybe", env=env)
    assert bad.returncode == 2


async def test_log_shows_and_filters_console_actions_by_their_actor(tmp_path: Path) -> None:
    env = environment(tmp_path)
    now = time.time()
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    assert stores.activity is not None
    local = {"direction": Direction.LOCAL, "peer": "", "outcome": Outcome.APPLIED, "message_id": ""}
    await stores.activity.record(
        [
            entry(now - 60, kind="session.end", actor="op@example.com", **local),
            entry(now - 30, kind="user.role", actor="boss@example.com", **local),
            entry(now - 10),
        ]
    )
    await stores.close()
    lines = run_cli("log", env=env).stdout.splitlines()
    assert "· local by boss@example.com" in lines[2] and "· local by op@example.com" in lines[3]
    mine = json.loads(run_cli("log", "--actor", "OP@example.com", "--format", "json", env=env).stdout)
    assert [(r["kind"], r["actor"], r["direction"]) for r in mine] == [("session.end", "op@example.com", "local")]
    local_only = json.loads(run_cli("log", "--direction", "local", "--format", "json", env=env).stdout)
    assert [r["actor"] for r in local_only] == ["boss@example.com", "op@example.com"]
    assert run_cli("log", "--format", "csv", env=env).stdout.splitlines()[0].endswith(",id,actor")


def test_log_on_a_store_that_does_not_exist_says_so(tmp_path: Path) -> None:
    result = run_cli("log", env=environment(tmp_path))
    assert result.returncode == 1 and "no SQLite store" in result.stderr


async def test_users_export_import_round_trip_through_the_command_line(tmp_path: Path) -> None:
    env = environment(tmp_path)
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    await stores.users.import_users(
        [
            User("ann@example.com", "admin", "Ann Ö", "scrypt$1$abc", 1_767_225_600.5, None),
            User("bob@example.com", "member", "Bob", None, 1_767_225_601.25, "https://b.example"),
            User("cy@example.com", "member", "Cy", "scrypt$1$def", 1_767_225_602.0, None),
        ]
    )
    await stores.close()
    first = tmp_path / "first.jsonl"
    made = run_cli("users", "export", str(first), "--password-hashes", env=env)
    assert made.returncode == 0, made.stderr
    assert "exported 3 user(s)" in made.stderr
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    again = run_cli("users", "export", str(first), env=env)
    assert again.returncode == 1 and "--force" in again.stderr

    other = {**env, "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    loaded = run_cli("users", "import", str(first), env=other)
    assert loaded.returncode == 0, loaded.stderr
    assert "imported 3 user(s)" in loaded.stderr and "3 created" in loaded.stderr
    second = tmp_path / "second.jsonl"
    assert run_cli("users", "export", str(second), "--password-hashes", env=other).returncode == 0
    assert second.read_bytes() == first.read_bytes()

    plain = run_cli("users", "export", "-", env=env)
    assert "scrypt$" not in plain.stdout and len(plain.stdout.splitlines()) == 3
    members = run_cli("users", "export", "-", "--role", "member", "--limit", "1", "--offset", "1", env=env)
    assert [json.loads(x)["email"] for x in members.stdout.splitlines()] == ["cy@example.com"]
    no_roles = run_cli("users", "export", "-", "--no-roles", env=env)
    assert '"role"' not in no_roles.stdout


def test_users_import_reports_bad_lines_and_strict_writes_nothing(tmp_path: Path) -> None:
    env = environment(tmp_path)
    source = tmp_path / "in.jsonl"
    source.write_text('{"email": "ann@example.com"}\n{"email": "nope"}\n{"email": "bob@example.com", "role": "x y"}\n')
    strict = run_cli("users", "import", str(source), "--strict", env=env)
    assert strict.returncode == 1
    assert f"{source}: line 2: invalid email" in strict.stderr and "nothing imported" in strict.stderr
    assert run_cli("users", "export", "-", env=env).stdout == ""
    lenient = run_cli("users", "import", str(source), env=env)
    assert lenient.returncode == 1
    assert f"{source}: line 2: invalid email" in lenient.stderr
    assert f"{source}: line 3: role must be" in lenient.stderr
    assert "imported 1 user(s)" in lenient.stderr and "2 line(s) refused" in lenient.stderr
    exported = run_cli("users", "export", "-", env=env).stdout
    assert [json.loads(x)["email"] for x in exported.splitlines()] == ["ann@example.com"]
    assert os.path.exists(tmp_path / "site.sqlite3")


async def test_users_delete_final_refuses_a_create_until_undelete_lifts_it(tmp_path: Path) -> None:
    env = environment(tmp_path)
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    await stores.users.create(User("ann@example.com", "member", "Ann"))
    await stores.close()
    deleted = run_cli("users", "delete", "Ann@Example.com", "--final", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted ann@example.com for good" in deleted.stderr
    assert run_cli("users", "delete", "ann@example.com", env=env).returncode == 1  # nobody left to delete

    from asgi_sessionsync.protocol import UserAction
    from asgi_sessionsync.stores.versions import Outcome as UserOutcome
    from asgi_sessionsync.stores.versions import UserChange

    def create(now: float) -> UserChange:
        return UserChange(
            email="ann@example.com",
            action=UserAction.CREATE,
            origin="https://b.example",
            now_ms=int(now * 1000),
            version=(int(now * 1000) + 10_000, "https://b.example"),
            name="Ann again",
            may_create=True,
            new_role="member",
            now=now,
        )

    stores = sqlite_stores(tmp_path / "site.sqlite3")
    try:
        refused = await stores.users.apply(create(time.time()))
        assert refused.outcome is UserOutcome.DELETED and await stores.users.get("ann@example.com") is None
    finally:
        await stores.close()
    lifted = run_cli("users", "undelete", "ann@example.com", env=env)
    assert lifted.returncode == 0 and "lifted the final deletion" in lifted.stderr, lifted.stderr
    assert run_cli("users", "undelete", "ann@example.com", env=env).returncode == 1  # nothing left to lift
    stores = sqlite_stores(tmp_path / "site.sqlite3")
    try:
        made = await stores.users.apply(create(time.time()))
        assert made.outcome is UserOutcome.APPLIED
    finally:
        await stores.close()


def test_log_csv_neutralises_formulas() -> None:
    """Red-team #20: a cell starting with = + - @ tab or CR gets a leading ``'`` in CSV."""
    import csv
    import io

    from asgi_sessionsync.cli.log import print_entries

    texts = ("=cmd|' /C calc'!A0", "+1", "-1+1", "@A1", "\tx", "\rx")
    entries = [entry(1.0 + i, reason=text, user=f"{text}@example.com") for i, text in enumerate(texts)]
    out = io.StringIO()
    print_entries(entries, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
        assert row["reason"] == f"'{text}" and row["user"] == f"'{text}@example.com"
        assert row["peer"] == "https://b.example" and row["at"] == str(1.0 + i) and row["outcome"] == "delivered"


def test_users_import_refuses_a_deeply_nested_line_and_goes_on(tmp_path: Path) -> None:
    """Red-team #20: a 30,000-deep JSON line ended ``users import`` on a RecursionError."""
    env = environment(tmp_path)
    source = tmp_path / "deep.jsonl"
    deep = "[" * 30_000 + "]" * 30_000
    meta = '{"email": "cy@example.com", "metadata": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    source.write_text(f'{{"email": "ann@example.com"}}\n{deep}\n{meta}\n{{"email": "bob@example.com"}}\n')
    result = run_cli("users", "import", str(source), env=env)
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 1
    assert f"{source}: line 2: nested too deeply" in result.stderr
    assert f"{source}: line 3: nested too deeply" in result.stderr
    assert "imported 2 user(s)" in result.stderr and "2 line(s) refused" in result.stderr
