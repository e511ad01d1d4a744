"""Activity log: filters by kind, peer, user, outcome, who acted, period; newest first,
paged by cursor (the last entry's ``(at, id)``); the same selection as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import time
from argparse import ArgumentTypeError
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.console.listing import PAGE_SIZE, cursor_text, parse_cursor
from asgi_sessionsync.governance.commands import parse_since
from asgi_sessionsync.stores import ActivityEntry, ActivityFilter, ActivityLog, Direction, Outcome, normalize_email

FILTERS = ("kind", "peer", "user", "outcome", "direction", "actor", "since", "until")
DOWNLOAD_MAX = 100_000  # entries in one download
COLUMNS = ("at", "site", "direction", "peer", "kind", "user", "outcome", "reason", "message_id", "actor")


def _time(text: str, now: float) -> float | None:
    if not text:
        return None
    try:
        return parse_since(text, now)
    except (ArgumentTypeError, ValueError):
        return None


def _filter(ctx: Ctx) -> ActivityFilter:
    q, now = ctx.query, time.time()
    outcome, direction = q("outcome"), q("direction")
    return ActivityFilter(
        since=_time(q("since"), now),
        until=_time(q("until"), now),
        peer=q("peer") or None,
        user=normalize_email(q("user")) or None,
        kind=q("kind") or None,
        direction=Direction(direction) if direction in set(Direction) else None,
        outcome=Outcome(outcome) if outcome in set(Outcome) else None,
        actor=normalize_email(q("actor")) or None,
    )


async def entries(
    log: ActivityLog, where: ActivityFilter, before: tuple[float, str] | None, limit: int
) -> list[ActivityEntry]:
    """Entries newest first, from just before ``before`` (a previous page's last entry)."""
    return await log.list(where, limit=limit, before=before)


async def activity(ctx: Ctx) -> Response:
    log = ctx.site.stores.activity
    e = render.escape
    if log is None:
        return ctx.page(
            "Activity log", '<p class="alert">This site keeps no activity log (SESSIONSYNC_ACTIVITY_LOG is off).</p>'
        )
    values = {name: ctx.query(name) for name in FILTERS}
    found = await entries(log, _filter(ctx), parse_cursor(ctx.query("before")), PAGE_SIZE + 1)
    shown = found[:PAGE_SIZE]
    rows = [
        [
            e(render.when(a.at)),
            e(a.direction),
            e(a.peer),
            e(a.kind),
            e(a.user),
            e(a.said),
            e(a.actor),
            f"<code>{e(a.message_id[:12])}</code>",
        ]
        for a in shown
    ]
    peers = [p.site_id for _, p in ctx.site.peers]
    filters = (
        '<form class="filters" method="get">'
        + render.field("kind", "kind (login, logout, user, console…)", values["kind"])
        + render.field("peer", "peer", values["peer"], options=peers)
        + render.field("user", "user", values["user"])
        + render.field("outcome", "outcome", values["outcome"], options=[str(o) for o in Outcome])
        + render.field("direction", "direction", values["direction"], options=[str(d) for d in Direction])
        + render.field("actor", "by (console)", values["actor"])
        + render.field("since", "since (7d, YYYY-MM-DD)", values["since"])
        + render.field("until", "until", values["until"])
        + '<label>&nbsp;<button type="submit">Filter</button></label></form>'
    )
    pager = ""
    if len(found) > PAGE_SIZE:
        last = shown[-1]
        pager = render.link(
            render.with_query(ctx.base + "activity", {**values, "before": cursor_text((last.at, last.id))}), "Older →"
        )
    downloads = " · ".join(
        render.link(render.with_query(ctx.base + f"activity.{kind}", values), f"Download as {kind.upper()}")
        for kind in ("csv", "json")
    )
    body = (
        filters
        + f"<p>{downloads}</p>"
        + render.table(
            ("when", "direction", "peer", "kind", "user", "outcome", "by", "message"), rows, empty="no entry matches"
        )
        + f'<p class="pager">{pager}</p>'
    )
    return ctx.page("Activity log", body)


async def _all(log: ActivityLog, where: ActivityFilter) -> AsyncIterator[list[ActivityEntry]]:
    before, total = None, 0
    while total < DOWNLOAD_MAX:
        batch = await entries(log, where, before, min(1000, DOWNLOAD_MAX - total))
        if not batch:
            return
        total += len(batch)
        yield batch
        before = (batch[-1].at, batch[-1].id)


def _row(entry: ActivityEntry) -> dict[str, object]:
    return {c: (str(getattr(entry, c)) if c in ("direction",) else getattr(entry, c)) for c in COLUMNS} | {
        "outcome": str(entry.outcome)
    }


async def download(ctx: Ctx, kind: str) -> Response:
    log = ctx.site.stores.activity
    if log is None:
        return ctx.page("Activity log", '<p class="alert">This site keeps no activity log.</p>', status=404)
    where = _filter(ctx)

    async def lines() -> AsyncIterator[bytes]:
        if kind == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            yield out.getvalue().encode()
        async for batch in _all(log, where):
            out = io.StringIO()
            if kind == "csv":
                writer = csv.writer(out)
                for entry in batch:
                    row = _row(entry)
                    writer.writerow([_cell(row[c]) for c in COLUMNS])
            else:
                for entry in batch:
                    out.write(json.dumps(_row(entry), ensure_ascii=False) + "\n")
            yield out.getvalue().encode()

    media = "text/csv" if kind == "csv" else "application/x-ndjson"
    name = "activity.csv" if kind == "csv" else "activity.jsonl"
    headers = {**render.security_headers(render.new_nonce()), "content-disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(lines(), media_type=media, headers=headers)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet does not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def download_csv(ctx: Ctx) -> Response:
    return await download(ctx, "csv")


async def download_json(ctx: Ctx) -> Response:
    return await download(ctx, "json")


ACTIVITY_ROUTES = (
    ("activity", ("GET",), activity),
    ("activity.csv", ("GET",), download_csv),
    ("activity.json", ("GET",), download_json),
)
