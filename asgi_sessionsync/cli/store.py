"""``sessions list|revoke`` and ``outbox list|retry|drop``: commands on the site's stores."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import anyio

from asgi_sessionsync.cli.output import print_json, print_table, when
from asgi_sessionsync.peers.outbox_actions import drop_messages, retry_outbox
from asgi_sessionsync.settings import Settings, site_id_of
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import OutboxMessage


async def store_command(settings: Settings, args: argparse.Namespace) -> int:
    site = Site.existing(settings)
    try:
        if args.command == "sessions":
            return await (sessions_list(site, args) if args.action == "list" else sessions_revoke(site, args))
        if args.action == "list":
            return await outbox_list(site, args.format)
        if args.action == "retry":
            return await outbox_retry(site, args.peer)
        return await outbox_drop(site, args)
    finally:
        await site.aclose()


async def sessions_list(site: Site, args: argparse.Namespace) -> int:
    records = await site.stores.sessions.list(user=args.user, include_ended=args.all)
    if args.format == "json":
        print_json([dataclasses.asdict(r) for r in records])
        return 0
    print_table(
        ["session", "user", "ip", "created", "ended / reason"],
        [
            [
                r.sid[:12],
                r.user,
                r.ip,
                when(r.created_at),
                f"{when(r.ended_at)} {r.end_reason}" if r.ended_at else "active",
            ]
            for r in records
        ],
    )
    return 0


async def sessions_revoke(site: Site, args: argparse.Namespace) -> int:
    # Ready before the clock starts: a sign-out waits for the peers only so long
    # (SESSIONSYNC_LOGOUT_WAIT), so keys, clients and clock offsets are made first.
    await anyio.to_thread.run_sync(site.tokens.keychain.derive)
    site.client.http  # noqa: B018 - made now, not inside the wait
    await site.health.alive(list(site.peers))
    count = await site.sign_outs.everywhere(args.user, reason="revoked by administrator")
    print(f"revoked {count} session(s) of {args.user} here; peers notified through the outbox")
    return 0


def _message(message: OutboxMessage) -> dict[str, Any]:
    shown = dataclasses.asdict(message)
    shown["status"] = str(message.status)
    return shown


async def outbox_list(site: Site, output: str) -> int:
    pending = await site.stores.outbox.pending()
    if output == "json":
        print_json([_message(m) for m in pending])
        return 0
    print(f"{len(pending)} message(s) not yet delivered")
    if pending:
        print_table(
            ["id", "kind", "peer", "attempts", "next attempt", "last error"],
            [
                [m.id[:12], m.kind, m.peer, str(m.attempts), when(m.next_attempt_at), m.last_error or "-"]
                for m in pending
            ],
        )
    return 0


async def outbox_retry(site: Site, peer: str | None) -> int:
    wanted = site_id_of(peer) if peer else None
    deliveries, waiting = await retry_outbox(site.stores.outbox, site.courier, wanted)
    delivered = sum(d.delivered for d in deliveries)
    abandoned = sum(d.abandoned for d in deliveries)
    for d in deliveries:
        outcome = "delivered" if d.delivered else f"failed ({d.error})" + (", abandoned" if d.abandoned else "")
        print(f"  {d.message.id[:12]} {d.message.kind} to {d.message.peer}: {outcome}")
    behind = f", {len(waiting)} waiting behind one that failed" if waiting else ""
    print(
        f"{len(deliveries)} message(s) tried now: {delivered} delivered, "
        f"{len(deliveries) - delivered - abandoned} still pending"
        + (f", {abandoned} abandoned" if abandoned else "")
        + behind
    )
    return 0 if delivered == len(deliveries) and not waiting else 1


async def outbox_drop(site: Site, args: argparse.Namespace) -> int:
    pending = await site.stores.outbox.pending()
    if args.all:
        chosen = [m.id for m in pending]
    elif args.peer:
        chosen = [m.id for m in pending if m.peer == site_id_of(args.peer)]
    elif args.ids:
        chosen = []
        for given in args.ids:
            matches = [m.id for m in pending if m.id.startswith(given)]
            if len(matches) != 1:
                problem = "no pending message" if not matches else f"{len(matches)} pending messages"
                print(f"error: {problem} with an id starting {given!r}", file=sys.stderr)
                return 2
            chosen.append(matches[0])
    else:
        print("error: name message ids, or give --peer URL or --all", file=sys.stderr)
        return 2
    count = await drop_messages(site.stores.outbox, site.activity, chosen)
    print(f"dropped {count} message(s); they will not be sent")
    return 0
