"""Command-line governance: ``sessions list/end/export/erase``, ``policy check``, ``analytics``.

Registered on the main parser by :func:`register` and run by :func:`dispatch` (which
returns None for commands that are not its own).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.governance.analytics_output import render_stats
from asgi_sessionsync.governance.devices import Device
from asgi_sessionsync.protocol import from_outbox_form
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, SessionStore, normalize_email
from asgi_sessionsync.stores.analytics import site_analytics
from asgi_sessionsync.stores.stats import reason_of
from asgi_sessionsync.validation import csv_row

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

FORMATS = ("table", "json", "csv")
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
REVOKED = "revoked by administrator"


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` ago, or a UTC date ``YYYY-MM-DD``: epoch seconds."""
    now = time.time() if now is None else now
    match = _SINCE.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%d")) - time.timezone
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use 7d, 12h, 30m, 2w or a date YYYY-MM-DD") from None


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    sessions: argparse._SubParsersAction[argparse.ArgumentParser],
    listing: argparse.ArgumentParser,
) -> None:
    """Add the governance options and commands to the ``python -m asgi_sessionsync`` parser."""
    listing.add_argument("--ip", help="only sessions from this address")
    listing.add_argument("--active", action="store_true", help="only active sessions (default: history too)")
    listing.add_argument("--since", type=parse_since, help="only sessions started since: 7d, 12h, 2026-01-31")
    listing.add_argument("--format", choices=FORMATS, default="table")
    listing.add_argument("--limit", type=int, default=1000, help="at most this many, newest first (default 1000)")

    end = sessions.add_parser("end", help="end one session (its whole sign-in, on every site) or a user's sessions")
    which = end.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="a session id, as sessions list shows it")
    which.add_argument("--user", help="every session of this user (email), everywhere")

    export = sessions.add_parser("export", help="print one user's account and session history as JSON")
    export.add_argument("--user", required=True, help="email of the user")
    erase = sessions.add_parser("erase", help="end a user's sessions everywhere and delete their history here")
    erase.add_argument("--user", required=True, help="email of the user")

    policy = commands.add_parser("policy", help="the session policy").add_subparsers(dest="action", required=True)
    policy.add_parser("check", help="validate SESSIONSYNC_POLICY_FILE; print the effective rules per role")

    analytics = commands.add_parser("analytics", help="session analytics from the registry")
    analytics.add_argument("--since", type=parse_since, default="7d", help="period start: 7d (default), 12h, a date")
    analytics.add_argument("--format", choices=(*FORMATS, "html"), default="table")
    analytics.add_argument("--output", type=Path, help="write to this file (the html report needs one)")
    analytics.add_argument("--top", type=int, default=10, help="devices and countries shown (default 10)")


def dispatch(settings: Settings, args: argparse.Namespace) -> int | None:
    """Run a governance command; None when ``args`` names another command."""
    import anyio

    command, action = args.command, getattr(args, "action", None)
    if command == "policy":
        return policy_check(settings)
    if command == "analytics":
        return anyio.run(_analytics, settings, args)
    if command == "sessions" and action in ("list", "end", "export", "erase"):
        return anyio.run(_sessions, settings, args)
    return None


# -- policy check --------------------------------------------------------------------------


def policy_check(settings: Settings) -> int:
    from asgi_sessionsync.governance.admission import check_requirements

    policy = settings.governance.policy
    if policy is None:
        print("no session policy (SESSIONSYNC_POLICY_FILE is not set): every sign-in is allowed, no idle timeout")
        return 0
    check_requirements(settings)
    print(f"policy is valid: {policy.source}")
    print("limits count sign-ins (one sign-in synced to many sites is one), as this site's registry sees them")
    for name, rules in policy.all():
        print(f"\n[{name if name == 'defaults' else 'roles.' + name}]")
        rows = rules.describe()
        width = max(len(key) for key, _ in rows)
        for key, value in rows:
            print(f"  {key.ljust(width)}  {value}")
    return 0


# -- sessions --------------------------------------------------------------------------------


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def status(record: SessionRecord, now: float) -> str:
    if record.end_reason is not None:
        return record.end_reason
    if record.expires_at is not None and now > record.expires_at:
        return "expired"
    return "active"


def _row(r: SessionRecord, now: float) -> dict[str, Any]:
    device = Device.parse(r.device)
    return {
        "id": r.sid,
        "user": r.user,
        "site": r.site,
        "ip": r.ip,
        "device": device.described,
        "client": device.client_type,
        "country": r.country,
        "how": r.via,
        "created": _when(r.created_at),
        "last_seen": _when(r.last_seen_at),
        "status": status(r, now),
        "ended": _when(r.ended_at),
        "chain": r.chain,
        # The same times as numbers (epoch seconds), for programs reading json or csv.
        "created_at": r.created_at,
        "last_seen_at": r.last_seen_at,
        "ended_at": r.ended_at,
        "end_reason": r.end_reason,
    }


def print_sessions(records: Sequence[SessionRecord], fmt: str, out: Any = None) -> None:
    out = out or sys.stdout
    now = time.time()
    rows = [_row(r, now) for r in records]
    if fmt == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(_row(records[0], now)) if records else ["id"])
        writer.writeheader()
        writer.writerows(csv_row(row) for row in rows)
        return
    columns = ("id", "user", "site", "ip", "device", "client", "country", "how", "created", "last_seen", "status")
    widths = {c: max([len(c), *(len(str(row[c])) for row in rows)]) for c in columns}
    widths["status"] = 0
    out.write("  ".join(c.replace("_", " ").ljust(widths[c]) for c in columns).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(str(row[c] or "-").ljust(widths[c]) for c in columns).rstrip() + "\n")
    out.write(f"{len(rows)} session(s)\n")


async def active_sessions_starting(registry: SessionStore, given: str) -> list[SessionRecord]:
    """The active sessions whose id is ``given`` or starts with it (as ``sessions list``
    shows ids): the one session when it is a whole id, every match when it is a beginning."""
    exact = await registry.get(given)
    if exact is not None and exact.active:
        return [exact]
    if not given:
        return []
    active = await registry.search(active=True, limit=10_000_000)
    return [r for r in active if r.sid.startswith(given)]


async def _sessions(settings: Settings, args: argparse.Namespace) -> int:
    from asgi_sessionsync.site import Site

    site = Site.existing(settings)
    try:
        registry = site.stores.sessions
        if args.action == "list":
            records = await registry.search(
                user=args.user, ip=args.ip, since=args.since, active=args.active, limit=args.limit
            )
            print_sessions(records, args.format)
            return 0
        if args.action == "end":
            if args.user:
                count = await site.sign_outs.everywhere(args.user, reason=REVOKED)
                print(f"ended {count} session(s) of {normalize_email(args.user)} here; peers told through the outbox")
                return 0
            matches = await active_sessions_starting(registry, args.id)
            if len(matches) != 1:
                if matches:
                    print(
                        f"error: {len(matches)} active sessions have an id starting {args.id!r}: give more of it",
                        file=sys.stderr,
                    )
                    return 2
                print(
                    f"no active session with an id starting {args.id!r} here (see: sessions list --active)",
                    file=sys.stderr,
                )
                return 1
            record = matches[0]
            count = await site.idle.end_chain(record.user, record.chain, reason=REVOKED)
            print(f"ended session {record.sid} of {record.user} ({count} here, with its sign-in on every peer)")
            return 0
        email = normalize_email(args.user)
        if args.action == "export":
            user = await site.stores.users.get(email)
            account = None
            if user is not None:
                account = {k: v for k, v in asdict(user).items() if k != "password_hash"}
            history = await registry.search(user=email, limit=10_000_000)
            json.dump(
                {
                    "user": email,
                    "site": settings.site_id,
                    "exported_at": time.time(),
                    "account": account,
                    "sessions": [asdict(r) for r in history],
                },
                sys.stdout,
                indent=2,
            )
            sys.stdout.write("\n")
            return 0
        return await _erase(site, email)
    finally:
        await site.aclose()


async def _erase(site: Site, email: str) -> int:
    """End what is active everywhere (so no cookie outlives its history), then delete the
    user's session history and activity-log entries here; say what is kept and why."""
    ended = await site.sign_outs.everywhere(email, reason="erased on request")
    erased = await site.stores.sessions.erase_user(email)
    marks = await site.stores.verified.delete(email)  # the register itself, so that no log line names her again
    log = site.stores.activity
    entries = await log.erase_user(email) if log is not None else 0
    waiting = [m for m in await site.stores.outbox.pending() if from_outbox_form(m.kind, m.payload)[0] == email]
    print(
        f"erased {erased} session(s) of {email} from this site's history ({ended} were active and were ended"
        f" on every site) and {entries} activity-log entries about them"
    )
    if marks:
        print(f"erased {marks} verified-address mark(s) of {email} (her next sign-in is judged on the issuer's word)")
    print("kept:")
    print(f"  - the account (name, role, metadata, password hash): remove it with the app or `users delete {email}`")
    print(
        "  - the analytics' day counters (logins and ends per day, device class and country; failed logins, spam"
        " sessions and user changes per day): they hold no email,"
        " address or session id"
    )
    if waiting:
        print(
            f"  - {len(waiting)} sign-out message(s) to peers are still in the outbox: they carry the email until"
            " delivered, and their delivery is logged with it; run this again once `outbox list` no longer shows them"
        )
    print("  - each peer's own history and activity log: run `sessions erase` on each site")
    return 0


# -- analytics ---------------------------------------------------------------------------------


async def _analytics(settings: Settings, args: argparse.Namespace) -> int:
    from asgi_sessionsync.stores import open_stores

    if args.format == "html" and args.output is None:
        raise ConfigError("--output", "the html report is a file: give --output report.html")
    stores = open_stores(settings.store, create=False)
    try:
        started = time.perf_counter()
        stats = await site_analytics(stores, args.since, time.time(), top=args.top)
        took = time.perf_counter() - started
    finally:
        await stores.close()
    text = render_stats(stats, args.format, settings.site_id)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({took * 1000:.0f} ms to compute)")
    else:
        sys.stdout.write(text)
    return 0


__all__ = ["dispatch", "parse_since", "reason_of", "register"]
