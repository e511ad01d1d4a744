"""``python -m asgi_sessionsync``: keys, configuration, sessions and the outbox."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio

from asgi_sessionsync.exceptions import ConfigError, SessionSyncError
from asgi_sessionsync.governance import commands as governance
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asgi_sessionsync", description=__doc__)
    parser.add_argument("--env-file", default=".env", help="dotenv file to read (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True)

    keys = commands.add_parser("keys", help="secret keys").add_subparsers(dest="action", required=True)
    generate = keys.add_parser("generate", help="print a new secret key")
    generate.add_argument("-n", type=int, default=1, help="how many keys (default 1)")

    config = commands.add_parser("config", help="configuration").add_subparsers(dest="action", required=True)
    config.add_parser("check", help="validate the environment; print the effective settings, secrets masked")

    sessions = commands.add_parser("sessions", help="the session registry").add_subparsers(dest="action", required=True)
    listing = sessions.add_parser("list", help="list sessions")
    listing.add_argument("--user", help="only this user's sessions (email)")
    listing.add_argument("--all", action="store_true", help="kept for compatibility: ended sessions are listed anyway")
    revoke = sessions.add_parser("revoke", help="end a user's sessions on this site and tell every peer")
    revoke.add_argument("--user", required=True, help="email of the user")
    governance.register(commands, sessions, listing)

    outbox = commands.add_parser("outbox", help="back-channel messages").add_subparsers(dest="action", required=True)
    outbox.add_parser("list", help="list messages not yet delivered")

    args = parser.parse_args(argv)
    try:
        if args.command == "keys":
            for _ in range(args.n):
                print(generate_secret())
            return 0
        settings = Settings.from_env(env_file=args.env_file)
        if args.command == "config":
            return _config_check(settings)
        handled = governance.dispatch(settings, args)
        if handled is not None:
            return handled
        return anyio.run(_store_command, settings, args)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except SessionSyncError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _config_check(settings: Settings) -> int:
    rows = settings.describe()
    width = max(len(name) for name, _ in rows)
    print("configuration is valid; effective settings:")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    return 0


async def _store_command(settings: Settings, args: argparse.Namespace) -> int:
    from asgi_sessionsync.site import Site

    service = Site(settings)
    try:
        if args.command == "sessions" and args.action == "revoke":
            count = await service.sign_out_everywhere(args.user, reason="revoked by administrator")
            print(f"revoked {count} session(s) of {args.user} here; peers notified through the outbox")
            return 0
        if args.command == "outbox":
            pending = await service.stores.outbox.pending()
            print(f"{len(pending)} message(s) not yet delivered")
            for m in pending:
                print(
                    f"  {m.id[:12]} {m.kind:<8} to {m.peer:<32} attempts={m.attempts} last error={m.last_error or '-'}"
                )
            return 0
    finally:
        await service.aclose()
    return 2
