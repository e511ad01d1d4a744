"""``peers check``: for every peer, what works, what does not, and what to fix; the checks
themselves (and what each asks) are :mod:`asgi_sessionsync.peers.check`'s, shared with the
console's network page."""

from __future__ import annotations

from dataclasses import asdict

from asgi_sessionsync.cli.output import print_json
from asgi_sessionsync.peers.check import Check, PeerReport, Status, check_peers, read_outbox
from asgi_sessionsync.settings import Settings

__all__ = ["Check", "PeerReport", "Status", "check_peers", "peers_check", "read_outbox"]


async def peers_check(settings: Settings, output: str, seconds: float | None) -> int:
    reports = await check_peers(settings, seconds=seconds, outbox=await read_outbox(settings))
    ok = all(r.ok for r in reports)
    if output == "json":
        print_json(
            {
                "site": settings.site_id,
                "ok": ok,
                "peers": [{**asdict(r), "ok": r.ok} for r in reports],
            }
        )
        return 0 if ok else 1
    print(f"peers of {settings.site_id}:")
    if not reports:
        print("  (none configured: SESSIONSYNC_PEERS)")
    width = max((len(c.name) for r in reports for c in r.checks), default=0)
    for report in reports:
        back = f" | {report.backchannel_url}" if report.backchannel_url != report.url else ""
        print(f"\n{report.url}{back}  (network {report.network})")
        for c in report.checks:
            print(f"  {c.name.ljust(width)}  {c.status.value:<4}  {c.detail}")
            if c.fix:
                print(f"  {''.ljust(width)}        to fix: {c.fix}")
    failing = sum(not r.ok for r in reports)
    print(f"\n{len(reports)} peer(s), {failing} with problems" if failing else f"\n{len(reports)} peer(s), all good")
    return 0 if ok else 1
