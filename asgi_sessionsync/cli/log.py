"""``log``: the activity log, every cross-site message sent and received (and every action
taken through the console, with who took it), newest first.

Each line names the site that recorded it (stores shared by several sites, or logs of
several sites side by side, stay readable)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import anyio

from asgi_sessionsync.governance.commands import parse_since
from asgi_sessionsync.settings import Settings, site_id_of
from asgi_sessionsync.stores import ActivityEntry, ActivityFilter, Direction, Outcome, open_stores
from asgi_sessionsync.validation import csv_row, printable

FORMATS = ("table", "json", "csv")
COLUMNS = ("time", "site", "direction", "peer", "kind", "user", "outcome", "message")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log = commands.add_parser("log", help="the activity log: cross-site messages sent and received, newest first")
    log.add_argument("--since", type=parse_since, help="only since: 7d, 12h, 30m, 2026-01-31")
    log.add_argument("--until", type=parse_since, help="only before: 1h (an hour ago), 2026-02-01")
    log.add_argument("--peer", help="only messages to or from this peer (its URL)")
    log.add_argument("--user", help="only messages about this user (email)")
    log.add_argument("--kind", help="only this kind: login, logout, user (every user action), user.create, …")
    log.add_argument(
        "--direction", choices=[d.value for d in Direction], help="only sent, only received or only local actions"
    )
    log.add_argument("--actor", help="only actions taken by this operator (email; the console's)")
    log.add_argument(
        "--outcome", choices=[o.value for o in Outcome], metavar="OUTCOME", help="only this outcome: %(choices)s"
    )
    log.add_argument("--limit", type=int, default=100, help="at most this many, newest first (default 100)")
    log.add_argument("--format", choices=FORMATS, default="table")


def log_command(settings: Settings, args: argparse.Namespace) -> int:
    return anyio.run(_log, settings, args)


async def _log(settings: Settings, args: argparse.Namespace) -> int:
    where = ActivityFilter(
        since=args.since,
        until=args.until,
        peer=site_id_of(args.peer) if args.peer else None,
        user=args.user,
        kind=args.kind,
        direction=Direction(args.direction) if args.direction else None,
        outcome=Outcome(args.outcome) if args.outcome else None,
        actor=args.actor,
    )
    if not settings.activity_log:
        print(
            "note: the activity log is switched off (SESSIONSYNC_ACTIVITY_LOG): nothing new is recorded",
            file=sys.stderr,
        )
    stores = open_stores(settings.store, create=False)
    try:
        if stores.activity is None:
            print("this store keeps no activity log", file=sys.stderr)
            return 1
        entries = await stores.activity.list(where, limit=max(args.limit, 0))
    finally:
        await stores.close()
    print_entries(entries, args.format)
    return 0


_ARROWS = {Direction.SENT: "→ sent", Direction.RECEIVED: "← received", Direction.LOCAL: "· local"}


def _time(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def row(entry: ActivityEntry) -> dict[str, Any]:
    """One entry for json and csv: every field, the time also as UTC text."""
    return {
        "time": _time(entry.at) + "Z",
        "at": entry.at,
        "site": entry.site,
        "direction": str(entry.direction),
        "peer": entry.peer,
        "kind": entry.kind,
        "user": entry.user,
        "outcome": str(entry.outcome),
        "reason": entry.reason,
        "message_id": entry.message_id,
        "id": entry.id,
        "actor": entry.actor,
    }


def print_entries(entries: Sequence[ActivityEntry], fmt: str, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump([row(e) for e in entries], out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(row(entries[0])) if entries else ["time"])
        writer.writeheader()
        writer.writerows(csv_row(row(e)) for e in entries)
        return
    cells = [
        [
            _time(e.at),
            e.site,
            _ARROWS[e.direction] + (f" by {e.actor}" if e.actor else ""),
            e.peer or "?",
            e.kind or "?",
            e.user or "-",
            e.said,
            e.message_id[:12] or "-",
        ]
        for e in entries
    ]
    cells = [[printable(c, 120) for c in line] for line in cells]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(COLUMNS)]
    out.write("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip() + "\n")
    for line in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} (times in UTC)\n")
