"""Network: each peer with what ``peers check`` says (its own code: reachable, same key,
lists this site, clock offset, the outbox), the outbox per peer with retry and drop
buttons (``outbox retry`` / ``outbox drop``'s own code), and the network file's action
matrix as ``config check`` prints it."""

from __future__ import annotations

import time

from starlette.responses import Response

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.network_rules import ACTIONS, NetworkRules
from asgi_sessionsync.peers.backlog import backlogs
from asgi_sessionsync.peers.check import Status, check_peers
from asgi_sessionsync.peers.outbox_actions import drop_messages, retry_outbox
from asgi_sessionsync.trust import PRIVILEGED_COLUMNS, peer_matrix

CHECK_SECONDS = 3.0  # each peer's checks wait at most this long: the page is not held up by one down
STATUS_CLASS = {Status.OK: "ok", Status.FAIL: "fail", Status.WARN: "warn", Status.SKIPPED: "muted"}


async def network(ctx: Ctx) -> Response:
    site = ctx.site
    e = render.escape
    pending = await site.stores.outbox.pending()
    outbox = backlogs(pending)
    reports = await check_peers(
        site.settings, seconds=CHECK_SECONDS, outbox=outbox, tokens=site.tokens, http=site.client.http
    )
    now = time.time()
    parts = []
    for report, (_, peer) in zip(reports, site.peers, strict=True):
        checks = render.table(
            ("check", "", "what", "to fix"),
            [
                [e(c.name), f'<span class="{STATUS_CLASS[c.status]}">{e(c.status.value)}</span>', e(c.detail), e(c.fix)]
                for c in report.checks
            ],
        )
        backlog = outbox.get(peer.site_id)
        buttons = ""
        if backlog is not None:
            buttons = (
                f"<p>{e(backlog.describe(now))} "
                + render.post_button(ctx.base + "network/retry", "Retry now", ctx.csrf, {"peer": peer.site_id})
                + " "
                + render.post_button(
                    ctx.base + "network/drop", "Drop them", ctx.csrf, {"peer": peer.site_id}, danger=True
                )
                + "</p>"
            )
        state = '<span class="ok">all good</span>' if report.ok else '<span class="fail">problems</span>'
        parts.append(f"<h2>{e(peer.site_id)} · network {e(report.network)} · {state}</h2>{checks}{buttons}")
    if not reports:
        parts.append('<p class="muted">No peer configured (SESSIONSYNC_PEERS).</p>')
    matrix = peer_matrix(site.settings)
    rules = site.settings.user_sync.network_rules or NetworkRules()
    columns = ["peer", *ACTIONS, *PRIVILEGED_COLUMNS, "sources", "app-kinds"]
    parts.append(
        f"<h2>What this site sends to / accepts from each peer ({e(rules.source)})</h2>"
        + render.table(columns, [[e(row[c]) for c in columns] for row in matrix], empty="no peer")
    )
    queued = render.table(
        ("message", "kind", "peer", "attempts", "next attempt", "last error"),
        [
            [
                e(m.id[:12]),
                e(m.kind),
                e(m.peer),
                str(m.attempts),
                e(render.when(m.next_attempt_at)),
                e(m.last_error or ""),
            ]
            for m in pending[:200]
        ],
        empty="the outbox is empty",
    )
    parts.append(f"<h2>Outbox ({len(pending)} not yet delivered)</h2>{queued}")
    return ctx.page("Network", "".join(parts))


async def retry(ctx: Ctx) -> Response:
    peer = ctx.form.get("peer")
    if peer not in {p.site_id for _, p in ctx.site.peers}:
        return ctx.done("network", "gone")
    deliveries, waiting = await retry_outbox(ctx.site.stores.outbox, ctx.site.courier, peer)
    delivered = sum(d.delivered for d in deliveries)
    await ctx.record(
        "console.outbox-retry", "", f"{peer}: {len(deliveries)} tried, {delivered} delivered, {len(waiting)} waiting"
    )
    return ctx.done("network", "retried", len(deliveries))


async def drop(ctx: Ctx) -> Response:
    peer = ctx.form.get("peer")
    chosen = [m.id for m in await ctx.site.stores.outbox.pending() if m.peer == peer]
    if not chosen:
        return ctx.done("network", "gone")
    count = await drop_messages(ctx.site.stores.outbox, ctx.site.activity, chosen)
    await ctx.record("console.outbox-drop", "", f"{peer}: {count} message(s) dropped")
    return ctx.done("network", "dropped", count)


NETWORK_ROUTES = (
    ("network", ("GET",), network),
    ("network/retry", ("POST",), retry),
    ("network/drop", ("POST",), drop),
)
