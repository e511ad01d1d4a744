"""``--env-file`` goes before the command or after it, for every command (#26: it was
refused after ``analytics``, ``policy check`` and ``sessions end/export/erase``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from asgi_sessionsync.cli import build_parser
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import User
from tests.cli import run_cli


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command the parser knows, as (words, the parser of its last word): its leaves."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for sub in subs:
        for name, child in sub.choices.items():
            yield from commands(child, (*path, name))


LEAVES = list(commands(build_parser()))


def test_the_walk_finds_the_commands_the_bug_was_seen_on() -> None:
    names = {" ".join(words) for words, _ in LEAVES}
    assert {"analytics", "policy check", "sessions end", "sessions export", "sessions erase", "log"} <= names
    assert len(names) >= 18


@pytest.mark.parametrize(("words", "parser"), LEAVES, ids=[" ".join(w) for w, _ in LEAVES])
def test_every_command_takes_env_file_after_its_name(words: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    assert "--env-file" in parser._option_string_actions, f"{' '.join(words)} refuses --env-file after its name"


def test_the_top_level_env_file_is_kept_when_the_command_has_none() -> None:
    args = build_parser().parse_args(["--env-file", "first.env", "policy", "check"])
    assert args.env_file == "first.env"
    args = build_parser().parse_args(["--env-file", "first.env", "policy", "check", "--env-file", "after.env"])
    assert args.env_file == "after.env"
    assert build_parser().parse_args(["policy", "check"]).env_file is None


async def site_file(tmp_path: Path) -> Path:
    variables = {
        "SESSIONSYNC_SITE_URL": "https://a.example",
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": "https://b.example|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "SESSIONSYNC_LOGOUT_WAIT": "0.2",
    }
    path = tmp_path / "site.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    site = Site(Settings.from_env(variables, env_file=None))  # the store exists, with the user
    await site.stores.users.create(User("ann@example.com", "member"))
    await site.aclose()
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["analytics"],
        ["policy", "check"],
        ["sessions", "export", "--user", "ann@example.com"],
        ["sessions", "erase", "--user", "ann@example.com"],
        ["sessions", "end", "--user", "ann@example.com"],
    ],
    ids=" ".join,
)
async def test_the_reported_commands_read_an_env_file_given_after_them(tmp_path: Path, command: list[str]) -> None:
    env_file = await site_file(tmp_path)
    result = run_cli(*command, "--env-file", str(env_file), env={}, env_file=None)
    assert result.returncode == 0, result.stderr
    assert "unrecognized arguments" not in result.stderr
