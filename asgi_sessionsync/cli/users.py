"""``users export|import``: the users of this site to and from JSON Lines (see
:mod:`asgi_sessionsync.userfile` for the format)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

from asgi_sessionsync.cli.progress import Progress
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import open_stores
from asgi_sessionsync.userfile import ExportOptions, LineError, check_role, export_users, has_metadata, import_users
from asgi_sessionsync.userio import LineReader, PrivateFile, input_size, open_input
from asgi_sessionsync.validation import email_or_none, printable

SHOWN_ERRORS = 50  # per-line errors printed before they are only counted


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _keys(text: str) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not keys:
        raise argparse.ArgumentTypeError("name at least one metadata key: --meta team,locale")
    return keys


def _role(text: str) -> str:
    try:
        return check_role(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser(
        "users", help="the users of this site: export and import (JSON Lines), delete, lift a final deletion"
    )
    actions = users.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write users as JSON Lines, one a line (the file is made mode 0600)")
    export.add_argument("file", nargs="?", default="-", metavar="FILE", help="where to write (default -: stdout)")
    export.add_argument(
        "--role", action="append", type=_role, default=[], help="only users with this role (repeatable)"
    )
    export.add_argument("--no-roles", action="store_true", help="leave the roles out")
    export.add_argument("--metadata", action="store_true", help="include metadata (when the user store keeps it)")
    export.add_argument(
        "--meta",
        type=_keys,
        metavar="KEY,KEY",
        help="include only these metadata keys (implies --metadata); others stay out of the file",
    )
    export.add_argument(
        "--password-hashes",
        "--with-hashes",
        action="store_true",
        help="include password hashes (never plain text; off by default: left out unless asked)",
    )
    export.add_argument("--limit", type=_count, help="at most this many users (ordered by email)")
    export.add_argument("--offset", type=_count, default=0, help="skip this many first (with --limit: batches)")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    imported = actions.add_parser("import", help="read users from JSON Lines into this site")
    imported.add_argument("file", metavar="FILE", help="the JSON Lines file (-: stdin)")
    imported.add_argument("--batch", type=_positive, default=1000, help="users written per transaction (1000)")
    imported.add_argument(
        "--update", action="store_true", help="overwrite users that exist (default: leave them as they are)"
    )
    imported.add_argument("--strict", action="store_true", help="any bad line stops the import, and nothing is written")
    delete = actions.add_parser(
        "delete", help="delete a user here (its sessions end) and tell the peers that take deletes"
    )
    delete.add_argument("email", metavar="EMAIL")
    delete.add_argument(
        "--final",
        action="store_true",
        help="for good: nothing makes the user again here (no create, from a peer or here) until `users undelete`",
    )
    undelete = actions.add_parser(
        "undelete", help="lift a final deletion: a create (here or from a peer) may make it again"
    )
    undelete.add_argument("email", metavar="EMAIL")


def users_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "export":
        return anyio.run(_export, settings, args)
    if args.action in ("delete", "undelete"):
        return anyio.run(_delete, settings, args)
    return anyio.run(_import, settings, args)


async def _delete(settings: Settings, args: argparse.Namespace) -> int:
    from asgi_sessionsync.site import Site
    from asgi_sessionsync.users import delete_user, lift_deletion

    email = email_or_none(args.email)
    if email is None:
        print(f"error: {printable(args.email)} is not an email address", file=sys.stderr)
        return 2
    site = Site.existing(settings)
    try:
        if args.action == "undelete":
            if not await lift_deletion(site, email):
                print(f"{email} has no final deletion here: nothing to lift", file=sys.stderr)
                return 1
            print(f"lifted the final deletion of {email}: a create may make the user again", file=sys.stderr)
            return 0
        if not await delete_user(site, email, final=args.final):
            print(f"no user {email} here: nothing deleted", file=sys.stderr)
            return 1
        how = "for good (until `users undelete`)" if args.final else "(a newer create may make it again)"
        print(f"deleted {email} {how}; the peers that take deletes are told through the outbox", file=sys.stderr)
        return 0
    finally:
        await site.aclose()


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    options = ExportOptions(
        roles=tuple(dict.fromkeys(args.role)),
        with_roles=not args.no_roles,
        metadata=args.metadata or args.meta is not None,
        meta_keys=args.meta,
        password_hashes=args.password_hashes,
        limit=args.limit,
        offset=args.offset,
    )
    if options.metadata and not has_metadata():
        print("note: this site's user store keeps no metadata: none is exported", file=sys.stderr)
    stores = open_stores(settings.store, create=False)
    target: PrivateFile | None = None
    try:
        if args.file != "-":
            try:
                target = PrivateFile(Path(args.file), force=args.force)
            except (FileExistsError, OSError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
        progress = Progress("exporting", options.limit, unit=" users")
        started = time.perf_counter()
        write = target.write if target is not None else sys.stdout.write
        count = await export_users(stores.users, options, write, progress.update)
        progress.close()
        if target is not None:
            await target.close()
            target = None
        else:
            sys.stdout.flush()
        took = time.perf_counter() - started
        where = "stdout" if args.file == "-" else f"{args.file} (readable by its owner only)"
        print(f"exported {count} user(s) to {where} in {took:.1f} s", file=sys.stderr)
        return 0
    finally:
        if target is not None:
            await target.close(keep=False)
        await stores.close()


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        source = open_input(args.file)
    except OSError as error:
        raise ConfigError("FILE", f"{args.file}: {error.strerror}") from None
    shown = 0

    def show(error: LineError) -> None:
        nonlocal shown
        shown += 1
        if shown <= SHOWN_ERRORS:
            print(f"{args.file}: {error}", file=sys.stderr)
        elif shown == SHOWN_ERRORS + 1:
            print(f"{args.file}: more errors: counted, not shown", file=sys.stderr)

    try:
        if args.strict and source.seekable():
            # Every line checked first: one bad line and nothing is written.
            checked = await import_users(
                None,
                LineReader(source),
                batch=args.batch,
                strict=True,
                default_role=settings.default_role,
                on_error=show,
            )
            if checked.error_count:
                print(f"nothing imported: {args.file} has a bad line (--strict)", file=sys.stderr)
                return 1
            source.seek(0)
        stores = open_stores(settings.store)
        try:
            size = input_size(source)
            progress = Progress("importing", size)
            started = time.perf_counter()
            report = await import_users(
                stores.users,
                LineReader(source),
                batch=args.batch,
                replace=args.update,
                strict=args.strict,
                default_role=settings.default_role,
                on_error=None if args.strict and source.seekable() else show,
                progress=progress.update,
            )
            progress.close()
            took = time.perf_counter() - started
        finally:
            await stores.close()
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    counts = report.counts
    stored = counts.created + counts.updated
    rate = stored / took if took > 0 else 0.0
    skipped = f", {counts.skipped} left as they were (they exist: --update overwrites)" if counts.skipped else ""
    print(
        f"imported {stored} user(s) from {args.file}: {counts.created} created, {counts.updated} updated{skipped}; "
        f"{report.error_count} line(s) refused; {took:.1f} s, {rate:,.0f} users/s",
        file=sys.stderr,
    )
    if report.metadata_ignored:
        print(
            f"note: metadata of {report.metadata_ignored} user(s) ignored: this site's user store keeps none",
            file=sys.stderr,
        )
    if args.strict and report.error_count:
        print("stopped at the first bad line (--strict)", file=sys.stderr)
    return 1 if report.error_count else 0
