"""The command line in the wrong directory must not lie (#22): a read command never
creates a store, and relative paths in an ``--env-file`` are that file's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import User
from tests.cli import ROOT

KEY = generate_secret()


def site_env(store: str) -> dict[str, str]:
    return {
        "SESSIONSYNC_SITE_URL": "https://a.example",
        "SESSIONSYNC_SECRET_KEYS": KEY,
        "SESSIONSYNC_PEERS": "https://b.example|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": store,
        "SESSIONSYNC_LOGOUT_WAIT": "0",
    }


def run_in(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m asgi_sessionsync ARGS`` started in ``cwd`` (this tree's code)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
    clean.update(env or {})
    clean["PYTHONPATH"] = str(ROOT) + os.pathsep + clean.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "asgi_sessionsync", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["sessions", "list"],
        ["outbox", "list"],
        ["outbox", "retry"],
        ["sessions", "revoke", "--user", "ann@example.com"],
    ],
)
def test_a_store_command_in_the_wrong_directory_creates_nothing_and_fails(tmp_path: Path, command: list[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_in(elsewhere, "--env-file", os.devnull, *command, env=site_env("sqlite:///sessionsync.sqlite3"))
    looked_for = elsewhere / "sessionsync.sqlite3"
    assert result.returncode == 1, result.stdout + result.stderr
    assert str(looked_for) in result.stderr  # the absolute path it looked for
    assert "0 session(s)" not in result.stdout and "revoked" not in result.stdout
    assert not looked_for.exists() and list(elsewhere.iterdir()) == []


async def test_relative_paths_in_an_env_file_are_the_files_own(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    service = Site(Settings.from_env(site_env(f"sqlite:///{project / 'site.sqlite3'}"), env_file=None))
    user = await service.stores.users.create(User("ann@example.com", "member"))
    await service.starter.start(user, chain=None, scope={"headers": [], "client": ("198.51.100.4", 1)}, via="login")
    await service.aclose()
    env_file = project / "site.env"
    variables = site_env("sqlite:///site.sqlite3")  # relative: to the env file's directory
    env_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    listed = run_in(elsewhere, "--env-file", str(env_file), "sessions", "list")
    assert listed.returncode == 0, listed.stderr
    assert "ann@example.com" in listed.stdout
    checked = run_in(elsewhere, "config", "check", "--env-file", str(env_file))
    assert checked.returncode == 0, checked.stderr
    assert f"sqlite:///{project / 'site.sqlite3'}" in checked.stdout
    assert list(elsewhere.iterdir()) == []


def test_a_relative_store_in_the_environment_is_named_absolutely_by_config_check(tmp_path: Path) -> None:
    result = run_in(tmp_path, "--env-file", os.devnull, "config", "check", env=site_env("sqlite:///data/s.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "data" / "s.sqlite3") in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()
