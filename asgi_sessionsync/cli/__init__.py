"""``python -m asgi_sessionsync``: keys, configuration, peers, sessions, the outbox, the
activity log, users and verified addresses.

Exit codes: 0 all well; 1 a check failed or something could not be done (a peer that
does not answer, a message not delivered); 2 the configuration or the command line is
wrong. Output piped into ``head`` ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from asgi_sessionsync import __version__
from asgi_sessionsync.exceptions import ConfigError, SessionSyncError, config_problems
from asgi_sessionsync.settings.environment import unread_env_file

DESCRIPTION = (
    "Keys, configuration, peers, sessions, the outbox, the activity log and users of one asgi-sessionsync site."
)


class CommandParser(argparse.ArgumentParser):
    """The parser of every command and sub-command: each takes ``--env-file`` after its
    name as well as before the command (the top-level one is kept unless it is given
    there too). Sub-commands made with ``add_subparsers`` are of this class as well, so
    no command can be added without it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "--env-file" not in self._option_string_actions:  # a parent may have given it
            self.add_argument("--env-file", default=argparse.SUPPRESS, help="dotenv file to read (default: none)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m asgi_sessionsync", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"asgi-sessionsync {__version__}")
    parser.add_argument("--env-file", help="dotenv file to read (default: none; a .env is read only when named)")
    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    commands: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )

    keys = commands.add_parser("keys", help="secret keys").add_subparsers(dest="action", required=True)
    generate = keys.add_parser("generate", help="print a new secret key")
    generate.add_argument("-n", type=int, default=1, help="how many keys (default 1)")

    config = commands.add_parser("config", help="configuration").add_subparsers(dest="action", required=True)
    config_check = config.add_parser(
        "check",
        parents=[listing],
        help="validate the configuration; print the effective settings, secrets masked",
    )
    config_check.add_argument(
        "--app",
        metavar="MODULE:APP",
        help="the ASGI app (as uvicorn names it): its Starlette SessionMiddleware is compared with the "
        "SESSIONSYNC_APP_SESSION_* settings (starlette-session identity)",
    )

    peers = commands.add_parser("peers", help="the other sites").add_subparsers(dest="action", required=True)
    check = peers.add_parser(
        "check",
        parents=[listing],
        help="check every peer: reachable, same key, lists this site, clocks; say what to fix",
    )
    check.add_argument("--timeout", type=float, default=None, help="seconds per request (default: the peer timeout)")

    sessions = commands.add_parser("sessions", help="the session registry").add_subparsers(dest="action", required=True)
    session_list = sessions.add_parser("list", help="list sessions")
    session_list.add_argument("--user", help="only this user's sessions (email)")
    session_list.add_argument(
        "--all", action="store_true", help="kept for compatibility: ended sessions are listed anyway"
    )
    revoke = sessions.add_parser("revoke", help="end a user's sessions on this site and tell every peer")
    revoke.add_argument("--user", required=True, help="email of the user")
    from asgi_sessionsync.governance import commands as governance

    governance.register(commands, sessions, session_list)

    outbox = commands.add_parser("outbox", help="back-channel messages").add_subparsers(dest="action", required=True)
    outbox.add_parser("list", help="list messages not yet delivered", parents=[listing])
    retry = outbox.add_parser("retry", help="send pending messages now (all, or one peer's)")
    retry.add_argument("--peer", help="only messages for this peer (its URL)")
    drop = outbox.add_parser("drop", help="give up pending messages (they are never sent)")
    drop.add_argument("ids", nargs="*", metavar="ID", help="message ids, or unique beginnings of them")
    drop.add_argument("--peer", help="every pending message for this peer (its URL)")
    drop.add_argument("--all", action="store_true", help="every pending message")

    from asgi_sessionsync.cli import log, users, verified

    log.register(commands)
    users.register(commands)
    verified.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's last flush quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "keys":
            from asgi_sessionsync.keys import generate_secret

            for _ in range(args.n):
                print(generate_secret())
            return 0
        env_file = _env_file(args.env_file)
        if args.command == "config":
            from asgi_sessionsync.cli.config import config_check

            return config_check(env_file, args.format, args.app)
        from asgi_sessionsync.settings import Settings

        settings = Settings.from_env(env_file=env_file)
        if args.command == "peers":
            from asgi_sessionsync.cli.peers import peers_check

            return anyio.run(peers_check, settings, args.format, args.timeout)
        from asgi_sessionsync.governance import commands as governance

        handled = governance.dispatch(settings, args)
        if handled is not None:
            return handled
        if args.command == "log":
            from asgi_sessionsync.cli.log import log_command

            return log_command(settings, args)
        if args.command == "users":
            from asgi_sessionsync.cli.users import users_command

            return users_command(settings, args)
        if args.command == "verified":
            from asgi_sessionsync.cli.verified import verified_command

            return verified_command(settings, args)
        from asgi_sessionsync.cli.store import store_command

        return anyio.run(store_command, settings, args)
    except ConfigError as error:
        for problem in config_problems(error):
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    except SessionSyncError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _env_file(given: str | None) -> Path | None:
    if given is None:
        unread = unread_env_file()
        if unread is not None:
            print(
                f"note: {unread} holds SESSIONSYNC_ settings and is not read: add --env-file {unread}", file=sys.stderr
            )
        return None
    path = Path(given)
    if not path.exists():
        raise ConfigError("--env-file", f"{given}: no such file")
    return path
