"""The command line's sharp edges (#16): did-you-mean, env files, store paths, --version,
JSON output, pipes, and the outbox commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import asgi_sessionsync
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import OutboxMessage, User, new_id
from tests.cli import ROOT, run_cli

KEY = generate_secret()


def env(**extra: str) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://a.example.com",
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_PEERS": "https://b.example.com|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": "memory://",
        **extra,
    }


def test_version() -> None:
    result = run_cli("--version", env={})
    assert result.returncode == 0
    assert result.stdout.strip() == f"asgi-sessionsync {asgi_sessionsync.__version__}"


def test_a_misspelled_variable_fails_the_check_with_a_did_you_mean() -> None:
    result = run_cli("config", "check", env=env(SESSIONSYNC_PEER="https://c.example.com"))
    assert result.returncode == 2
    assert "SESSIONSYNC_PEER is not a setting: did you mean SESSIONSYNC_PEERS?" in result.stderr
    assert KEY not in result.stdout + result.stderr


def test_an_env_file_that_does_not_exist_is_an_error_and_the_option_goes_anywhere(tmp_path: Path) -> None:
    missing = run_cli("config", "check", env=env(), env_file=str(tmp_path / "missing.env"))
    assert missing.returncode == 2 and "missing.env" in missing.stderr and "no such file" in missing.stderr
    env_file = tmp_path / "site.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env(SESSIONSYNC_COOKIE_NAME="fromfile").items()))
    after = run_cli("config", "check", "--env-file", str(env_file), env={}, env_file=None)
    assert after.returncode == 0, after.stderr
    assert "fromfile" in after.stdout and KEY not in after.stdout


def test_a_store_path_that_cannot_be_created_fails_the_check(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = run_cli("config", "check", env=env(SESSIONSYNC_STORE=f"sqlite:///{blocked}/sub/site.sqlite3"))
    assert result.returncode == 2 and "SESSIONSYNC_STORE" in result.stderr
    fine = run_cli("config", "check", env=env(SESSIONSYNC_STORE=f"sqlite:///{tmp_path}/new/site.sqlite3"))
    assert fine.returncode == 0, fine.stderr
    assert not (tmp_path / "new").exists()  # checked, not created


def test_config_check_says_what_trusting_every_proxy_means() -> None:
    star = run_cli("config", "check", env=env(SESSIONSYNC_TRUSTED_PROXIES="*"))
    assert star.returncode == 0, star.stderr
    assert "note: SESSIONSYNC_TRUSTED_PROXIES=* believes" in star.stderr and "unix" in star.stderr
    listed = run_cli("config", "check", env=env(SESSIONSYNC_TRUSTED_PROXIES="unix,10.0.0.1"))
    assert listed.returncode == 0 and "note:" not in listed.stderr, listed.stderr


def test_config_check_as_json_masks_secrets() -> None:
    result = run_cli("config", "check", "--format", "json", env=env())
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["valid"] is True
    assert shown["settings"]["SESSIONSYNC_SITE_URL"] == "https://a.example.com"
    assert KEY not in result.stdout


def test_piping_into_head_raises_no_broken_pipe() -> None:
    for command in ("keys generate -n 20000", "--help", "config check"):
        shell = f"{sys.executable} -m asgi_sessionsync --env-file /dev/null {command} | head -1"
        result = subprocess.run(  # noqa: S602 - a pipe into head is the point
            shell, shell=True, capture_output=True, text=True, cwd=ROOT, env={**env(), "PATH": "/usr/bin:/bin"}
        )
        assert "BrokenPipe" not in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert result.stdout.strip()


async def make_site_with_a_session_and_a_message(tmp_path: Path) -> tuple[dict[str, str], OutboxMessage]:
    variables = env(SESSIONSYNC_STORE=f"sqlite:///{tmp_path / 'site.sqlite3'}")
    site = Site(Settings.from_env(variables, env_file=None))
    user = await site.stores.users.create(User("erin@example.com", "member"))
    await site.starter.start(user, chain=None, scope={"headers": [], "client": ("198.51.100.4", 1)}, via="login")
    now = time.time()
    message = OutboxMessage(
        id=new_id(),
        network="default",
        peer="https://b.example.com",
        url="http://127.0.0.1:9",
        kind="logout",
        payload={"sub": "erin@example.com", "c": None, "t": now},
        created_at=now,
        next_attempt_at=now + 3600,
        attempts=3,
        last_error="ConnectError",
    )
    await site.stores.outbox.add([message])
    await site.aclose()
    return variables, message


async def test_listing_commands_speak_json(tmp_path: Path) -> None:
    variables, message = await make_site_with_a_session_and_a_message(tmp_path)
    sessions = run_cli("sessions", "list", "--format", "json", env=variables)
    assert sessions.returncode == 0, sessions.stderr
    (session,) = json.loads(sessions.stdout)
    assert session["user"] == "erin@example.com" and session["ended_at"] is None
    outbox = run_cli("outbox", "list", "--format", "json", env=variables)
    (listed,) = json.loads(outbox.stdout)
    assert listed["id"] == message.id and listed["peer"] == "https://b.example.com"
    assert listed["attempts"] == 3 and listed["last_error"] == "ConnectError"


async def test_outbox_retry_sends_now_and_drop_abandons(tmp_path: Path) -> None:
    variables, message = await make_site_with_a_session_and_a_message(tmp_path)
    retried = run_cli("outbox", "retry", env=variables)
    assert retried.returncode == 1  # nothing listens at 127.0.0.1:9
    assert "1 message(s) tried now: 0 delivered, 1 still pending" in retried.stdout
    listed = json.loads(run_cli("outbox", "list", "--format", "json", env=variables).stdout)
    assert listed[0]["attempts"] == 4
    unknown = run_cli("outbox", "drop", "nosuchid", env=variables)
    assert unknown.returncode == 2 and "no pending message" in unknown.stderr
    dropped = run_cli("outbox", "drop", message.id[:8], env=variables)
    assert dropped.returncode == 0, dropped.stderr
    assert "dropped 1 message(s)" in dropped.stdout
    assert json.loads(run_cli("outbox", "list", "--format", "json", env=variables).stdout) == []


def test_ids_never_start_like_an_option() -> None:
    # `outbox drop -p98…` was taken for an option (1 id in 64 started with "-").
    from asgi_sessionsync.stores import new_id

    assert not any(new_id().startswith("-") for _ in range(5000))


async def test_outbox_retry_sends_each_queue_whole_in_its_order(capsys: object) -> None:
    """A queue (one peer, one user) gives one message at a time (issue #23): ``outbox
    retry`` goes on to the next one of each queue as the first is delivered."""
    from asgi_sessionsync.cli.store import outbox_retry
    from asgi_sessionsync.testing import SiteNetwork
    from asgi_sessionsync.testing_apps import login_app

    apps = {"a": login_app("a", {}), "b": login_app("b", {})}
    async with SiteNetwork(apps) as net:
        a = net.sites["a"].site
        net.network.down.add("b")
        for chain in ("c1", "c2", "c3"):
            await a.courier.broadcast_logout("ann@example.com", chain=chain, when=time.time(), wait=False)
        queued = [m.id for m in await a.stores.outbox.pending()]
        assert len(queued) == 3
        net.network.down.clear()
        assert await outbox_retry(a, None) == 0
        assert await a.stores.outbox.pending() == []
        log = a.stores.activity
        assert log is not None
        delivered = [
            e.message_id for e in reversed(await log.list()) if e.direction == "sent" and e.outcome == "applied"
        ]
        assert delivered == queued
