"""Sessions: search by user, address, where the sign-in was made, device, country, client
type, active or ended; one session's history; end one session (its sign-in, on every
site), end every session of a user everywhere (both through :mod:`asgi_sessionsync.
sessions.signout`, so the other sites are told)."""

from __future__ import annotations

from starlette.responses import Response

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.console.listing import (
    CLIENT_TYPES,
    DEVICE_CLASSES,
    came_from,
    cursor_text,
    device_text,
    parse_cursor,
    sessions_page,
    state_text,
)
from asgi_sessionsync.stores import ActivityFilter, SessionFilter, SessionRecord, SessionState, normalize_email
from asgi_sessionsync.validation import printable

FILTERS = ("user", "ip", "site", "device", "client", "country", "state")
ENDED_BY = "ended by administrator"


def _filter(ctx: Ctx) -> SessionFilter:
    q = ctx.query
    site = q("site")
    state = q("state")
    return SessionFilter(
        user=normalize_email(q("user")) or None,
        ip=q("ip") or None,
        came_from=("" if site == "this site" else site) if site else None,
        device_class=q("device") or None,
        client_type=q("client") or None,
        country=q("country").upper() or None,
        state=SessionState(state) if state in ("active", "ended") else None,
    )


def session_rows(ctx: Ctx, records: list[SessionRecord]) -> list[list[str]]:
    e = render.escape
    rows = []
    for r in records:
        action = (
            render.post_button(ctx.base + "sessions/end", "End", ctx.csrf, {"sid": r.sid}, danger=True)
            if r.ended_at is None
            else ""
        )
        rows.append(
            [
                render.link(render.with_query(ctx.base + "users/view", {"email": r.user}), r.user),
                render.link(render.with_query(ctx.base + "sessions/view", {"sid": r.sid}), r.sid[:10] + "…"),
                e(came_from(r)),
                e(device_text(r)),
                e(r.country or "?"),
                e(r.ip),
                e(render.when(r.created_at)),
                e(render.when(r.last_seen_at)),
                state_text(r),
                action,
            ]
        )
    return rows


HEADINGS = ("user", "session", "signed in at", "device", "country", "address", "started", "last seen", "state", "")


async def list_sessions(ctx: Ctx) -> Response:
    values = {name: ctx.query(name) for name in FILTERS}
    peers = ["this site", *(peer.site_id for _, peer in ctx.site.peers)]
    filters = (
        '<form class="filters" method="get">'
        + render.field("user", "user (email)", values["user"])
        + render.field("ip", "address", values["ip"])
        + render.field("site", "signed in at", values["site"], options=peers)
        + render.field("device", "device", values["device"], options=DEVICE_CLASSES)
        + render.field("client", "client type", values["client"], options=CLIENT_TYPES)
        + render.field("country", "country", values["country"])
        + render.field("state", "state", values["state"], options=("active", "ended"))
        + '<label>&nbsp;<button type="submit">Search</button></label></form>'
    )
    page = await sessions_page(ctx.site.stores.sessions, _filter(ctx), parse_cursor(ctx.query("after")))
    pager = ""
    if page.next is not None:
        pager = render.link(
            render.with_query(ctx.base + "sessions", {**values, "after": cursor_text(page.next)}), "Next page →"
        )
    first = render.link(render.with_query(ctx.base + "sessions", values), "first page") if ctx.query("after") else ""
    user = values["user"]
    end_all = ""
    if user:
        end_all = (
            "<p>"
            + render.post_button(
                ctx.base + "sessions/end-user",
                f"End every session of {user} on every site",
                ctx.csrf,
                {"email": user},
                danger=True,
            )
            + "</p>"
        )
    body = (
        filters
        + end_all
        + render.table(HEADINGS, session_rows(ctx, page.records), empty="no session matches (on this page)")
        + f'<p class="pager">{first} {pager}</p>'
        + '<p class="muted">This site\'s sessions, newest first. Ending one ends its sign-in (that browser) here '
        "and tells every peer.</p>"
    )
    return ctx.page("Sessions", body)


async def view_session(ctx: Ctx) -> Response:
    record = await ctx.site.stores.sessions.get(ctx.query("sid"))
    if record is None:
        return ctx.page(
            "Session not found", '<p class="alert">No such session here (or it was purged).</p>', status=404
        )
    e = render.escape
    details = render.table(
        ("", ""),
        [
            ["user", render.link(render.with_query(ctx.base + "users/view", {"email": record.user}), record.user)],
            ["session", f"<code>{e(record.sid)}</code>"],
            ["sign-in (chain)", f"<code>{e(record.chain)}</code>"],
            ["how it started", e(record.via)],
            ["device", e(device_text(record))],
            ["user agent", e(printable(record.user_agent, 300))],
            ["address, country", e(f"{record.ip}, {record.country or '?'}")],
            ["started", e(render.when(record.created_at))],
            ["last seen", e(render.when(record.last_seen_at))],
            ["lifetime ends", e(render.when(record.expires_at) or "no end of its own")],
            ["state", state_text(record)],
            ["ended", e(render.when(record.ended_at))],
        ],
    )
    same_user = await sessions_page(ctx.site.stores.sessions, SessionFilter(user=record.user), None, 200)
    chain = [r for r in same_user.records if r.chain == record.chain]
    entries = (
        await ctx.site.stores.activity.list(ActivityFilter(user=record.user), limit=30)
        if ctx.site.stores.activity
        else []
    )
    history = render.table(
        ("when", "direction", "peer", "kind", "outcome", "by"),
        [[e(render.when(a.at)), e(a.direction), e(a.peer), e(a.kind), e(a.said), e(a.actor)] for a in entries],
        empty="nothing in the activity log about this user",
    )
    actions = ""
    if record.ended_at is None:
        actions = (
            "<p>"
            + render.post_button(
                ctx.base + "sessions/end",
                "End this session (its sign-in, on every site)",
                ctx.csrf,
                {"sid": record.sid},
                danger=True,
            )
            + "</p>"
        )
    body = (
        details
        + actions
        + "<h2>Sessions of the same sign-in here</h2>"
        + render.table(
            ("session", "started", "state"),
            [[e(r.sid[:10] + "…"), e(render.when(r.created_at)), state_text(r)] for r in chain],
        )
        + "<h2>The user's activity (newest first)</h2>"
        + history
    )
    return ctx.page("Session", body)


async def end_session(ctx: Ctx) -> Response:
    record = await ctx.site.stores.sessions.get(ctx.form.get("sid"))
    if record is None or record.ended_at is not None:
        return ctx.done("sessions", "gone")
    await ctx.site.sign_outs.this_browser(record.user, record.chain, reason=ENDED_BY)
    await ctx.record("console.end-session", record.user, f"session {record.sid[:8]} ended (its sign-in, every site)")
    return ctx.done("sessions", "ended", 1)


async def end_user(ctx: Ctx) -> Response:
    email = normalize_email(ctx.form.get("email"))
    if not email:
        return ctx.done("sessions", "gone")
    count = await ctx.site.sign_outs.everywhere(email, reason="revoked by administrator")
    await ctx.record("console.end-user", email, f"{count} session(s) ended here, every peer told")
    return ctx.done("sessions", "ended-all", count)


SESSIONS_ROUTES = (
    ("sessions", ("GET",), list_sessions),
    ("sessions/view", ("GET",), view_session),
    ("sessions/end", ("POST",), end_session),
    ("sessions/end-user", ("POST",), end_user),
)
