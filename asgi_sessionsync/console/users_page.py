"""Users: search by the start of the email (a page at a time, by cursor: the last email);
one user's sessions, role, verified state and sync versions; a role or metadata changed
through user sync (:mod:`asgi_sessionsync.users`: the peers whose rules take it are
told); the address marked verified or not verified per issuer, or its marks revoked
(``site.verified``, as ``python -m asgi_sessionsync verified`` does, with the operator
as the activity log's actor); export and import as JSON Lines with the command line's own code
(:mod:`asgi_sessionsync.userfile`), the import with a report line by line."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.console.listing import PAGE_SIZE, sessions_page
from asgi_sessionsync.console.sessions_page import HEADINGS, session_rows
from asgi_sessionsync.exceptions import InvalidEmail, UserNotFound
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.stores import SessionFilter, User, UserStore, normalize_email
from asgi_sessionsync.stores.verified import VerifiedBy
from asgi_sessionsync.userfile import ExportOptions, ImportReport, LineError, import_users, selected_users, user_line
from asgi_sessionsync.userio import LineReader
from asgi_sessionsync.users import set_metadata, set_role
from asgi_sessionsync.validation import printable

logger = package_log("asgi_sessionsync.console")

SHOWN_ERRORS = 200  # lines of an import's report shown on the page (all are counted)


async def users_after(store: UserStore, prefix: str, after: str | None, limit: int) -> list[User]:
    """Users by email from just after ``after``, only those starting with ``prefix``."""
    return await store.list_users(limit=limit, after=after, prefix=prefix or None)


async def list_users(ctx: Ctx) -> Response:
    prefix = normalize_email(ctx.query("q"))
    after = ctx.query("after") or None
    found = await users_after(ctx.site.stores.users, prefix, after, PAGE_SIZE + 1)
    shown, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    e = render.escape
    rows = [
        [
            render.link(render.with_query(ctx.base + "users/view", {"email": u.email}), u.email),
            e(u.name),
            e(u.role),
            e(u.provisioned_by or "this site"),
            e(render.when(u.created_at)),
        ]
        for u in shown
    ]
    pager = ""
    if more and shown:
        pager = render.link(
            render.with_query(ctx.base + "users", {"q": prefix, "after": shown[-1].email}), "Next page →"
        )
    body = (
        '<form class="filters" method="get">'
        + render.field("q", "email starts with", prefix)
        + '<label>&nbsp;<button type="submit">Search</button></label></form>'
        + render.table(("email", "name", "role", "provisioned by", "created"), rows, empty="no user matches")
        + f'<p class="pager">{pager}</p>'
        + "<h2>Export and import (JSON Lines)</h2>"
        + f"<p>{render.link(ctx.base + 'users/export', 'Download every user (without password hashes)')}</p>"
        + f'<form method="post" action="{e(ctx.base)}users/import" enctype="multipart/form-data">'
        + f'<input type="hidden" name="csrf" value="{e(ctx.csrf)}">'
        + '<input type="file" name="file" accept=".jsonl,.json,.txt,application/x-ndjson" required> '
        + '<label><input type="checkbox" name="update" value="1"> overwrite users that exist</label> '
        + '<button type="submit">Import</button></form>'
    )
    return ctx.page("Users", body)


async def view_user(ctx: Ctx) -> Response:
    email = normalize_email(ctx.query("email"))
    site = ctx.site
    user = await site.stores.users.get(email) if email else None
    e = render.escape
    if user is None:
        return ctx.page("User not found", f'<p class="alert">No user {e(email)} on this site.</p>', status=404)
    verdict = await site.verified.verdict(email, site.site_id)
    verified = {True: "yes", False: "marked not verified", None: "not that this site remembers"}[verdict]
    versions = ", ".join(f"{group}: {clock} from {origin}" for group, (clock, origin) in sorted(user.versions.items()))
    details = render.table(
        ("", ""),
        [
            ["email", e(user.email)],
            ["name", e(user.name)],
            ["role", e(user.role) + (" (privileged here)" if site.trust.is_privileged_role(user.role) else "")],
            ["address verified here", verified],
            ["provisioned by", e(user.provisioned_by or "this site")],
            ["created", e(render.when(user.created_at))],
            [
                "metadata",
                e(json.dumps(user.meta, ensure_ascii=False)) if user.meta else '<span class="muted">none</span>',
            ],
            ["sync versions", e(versions) or '<span class="muted">never changed through user sync</span>'],
        ],
    )
    page = await sessions_page(site.stores.sessions, SessionFilter(user=email), None)
    hidden = (
        f'<input type="hidden" name="csrf" value="{e(ctx.csrf)}"><input type="hidden" name="email" value="{e(email)}">'
    )
    forms = (
        f'<form class="filters" method="post" action="{e(ctx.base)}users/role">{hidden}'
        + render.field("role", "role", user.role)
        + '<label>&nbsp;<button type="submit">Change role</button></label></form>'
        + f'<form class="filters" method="post" action="{e(ctx.base)}users/meta">{hidden}'
        + render.field("key", "metadata key", "")
        + render.field("value", "value (empty: delete the key)", "")
        + '<label>&nbsp;<button type="submit">Set metadata</button></label></form>'
    )
    end_all = render.post_button(
        ctx.base + "sessions/end-user",
        f"End every session of {email} on every site",
        ctx.csrf,
        {"email": email},
        danger=True,
    )
    body = (
        details
        + "<h2>Change (through user sync: peers whose rules take it are told)</h2>"
        + forms
        + await _verification(ctx, email)
        + "<h2>Sessions here</h2>"
        + f"<p>{end_all}</p>"
        + render.table(HEADINGS, session_rows(ctx, page.records), empty="no session here")
    )
    return ctx.page(f"User {email}", body)


STATES = {"verified": True, "not-verified": False}


async def _verification(ctx: Ctx, email: str) -> str:
    """The address's marks, per issuer, and the forms that set or revoke one."""
    e = render.escape
    site = ctx.site
    marks = await site.verified.register.list(email)
    rows = [
        [
            e(m.issuer) + (" (this site)" if m.issuer == site.site_id else ""),
            "verified" if m.verified else "marked not verified",
            e(str(m.by)),
            e(render.when(m.at)),
            e(render.when(m.until)),
            render.post_button(
                ctx.base + "users/revoke-verified", "Revoke", ctx.csrf, {"email": email, "issuer": m.issuer}
            ),
        ]
        for m in marks
    ]
    hidden = (
        f'<input type="hidden" name="csrf" value="{e(ctx.csrf)}"><input type="hidden" name="email" value="{e(email)}">'
    )
    issuers = "".join(f'<option value="{e(origin)}">{e(origin)}</option>' for origin in site.verified.issuers)
    states = "".join(f'<option value="{state}">{state.replace("-", " ")}</option>' for state in STATES)
    revoke_all = render.post_button(
        ctx.base + "users/revoke-verified", "Revoke every mark", ctx.csrf, {"email": email, "issuer": ""}, danger=True
    )
    return (
        "<h2>Address verification (per issuer: the site whose sign-ins a mark covers)</h2>"
        + render.table(
            ("issuer", "mark", "by", "since", "until", ""), rows, empty="no mark: each issuer's word decides"
        )
        + f'<form class="filters" method="post" action="{e(ctx.base)}users/verify">{hidden}'
        + f'<label>issuer <select name="issuer">{issuers}</select></label>'
        + f'<label>mark <select name="state">{states}</select></label>'
        + '<label>&nbsp;<button type="submit">Mark</button></label></form>'
        + (f"<p>{revoke_all}</p>" if marks else "")
    )


async def mark_verified(ctx: Ctx) -> Response:
    email, issuer = normalize_email(ctx.form.get("email")), ctx.form.get("issuer").strip()
    state = STATES.get(ctx.form.get("state"))
    site = ctx.site
    if issuer not in site.verified.issuers or state is None:
        return ctx.page(
            "Not changed", '<p class="alert">Choose an issuer (this site or a peer) and a mark.</p>', status=400
        )
    try:
        await site.verified.mark(email, issuer, verified=state, by=VerifiedBy.OPERATOR, actor=ctx.viewer.email)
    except ValueError:
        return ctx.page("Not changed", '<p class="alert">That is not an email address.</p>', status=400)
    _said(ctx, email, f"marked {'verified' if state else 'not verified'} for {issuer}")
    return ctx.done(render.with_query("users/view", {"email": email}), "verified")


async def revoke_verified(ctx: Ctx) -> Response:
    email, issuer = normalize_email(ctx.form.get("email")), ctx.form.get("issuer").strip() or None
    site = ctx.site
    if issuer is not None and issuer not in site.verified.issuers:
        return ctx.page("Not changed", '<p class="alert">That issuer is neither this site nor a peer.</p>', status=400)
    try:
        count = await site.verified.revoke(email, issuer, actor=ctx.viewer.email)
    except ValueError:
        return ctx.page("Not changed", '<p class="alert">That is not an email address.</p>', status=400)
    _said(ctx, email, f"{count} verification mark(s) revoked ({issuer or 'every issuer'})")
    return ctx.done(render.with_query("users/view", {"email": email}), "revoked", count)


def _said(ctx: Ctx, email: str, what: str) -> None:
    """The site's log line of a verification action (its activity entry, with the actor,
    is written by ``site.verified``)."""
    site_log(logger.name, ctx.site.site_id).info("console: %s by %s: %s", email, ctx.viewer.email, what)


async def change_role(ctx: Ctx) -> Response:
    email, role = normalize_email(ctx.form.get("email")), ctx.form.get("role").strip()
    back = render.with_query("users/view", {"email": email})
    if not role or printable(role, 64) != role:
        return ctx.page("Not changed", '<p class="alert">A role is a short printable word.</p>', status=400)
    try:
        await set_role(ctx.site, email, role)
    except (UserNotFound, InvalidEmail, ValueError):
        return ctx.done(back, "gone")
    await ctx.record("console.user-role", email, f"role set to {role}")
    return ctx.done(back, "role")


async def change_meta(ctx: Ctx) -> Response:
    email, key, value = normalize_email(ctx.form.get("email")), ctx.form.get("key").strip(), ctx.form.get("value")
    back = render.with_query("users/view", {"email": email})
    if not key or printable(key, 64) != key:
        return ctx.page("Not changed", '<p class="alert">A metadata key is a short printable word.</p>', status=400)
    try:
        await set_metadata(ctx.site, email, {key: value or None})
    except (UserNotFound, InvalidEmail, ValueError):
        return ctx.done(back, "gone")
    await ctx.record("console.user-meta", email, f"metadata {key} {'set' if value else 'deleted'}")
    return ctx.done(back, "meta")


async def export(ctx: Ctx) -> Response:
    options = ExportOptions()
    store = ctx.site.stores.users

    async def lines() -> AsyncIterator[bytes]:
        async for batch in selected_users(store, options):
            yield "".join(user_line(u, options) + "\n" for u in batch).encode("utf-8")

    await ctx.record("console.users-export", "", "every user exported (no password hashes)")
    headers = {
        **render.security_headers(render.new_nonce()),
        "content-disposition": 'attachment; filename="users.jsonl"',
    }
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)


async def import_file(ctx: Ctx) -> Response:
    data = ctx.form.files.get("file")
    if data is None:
        return ctx.page("Nothing imported", '<p class="alert">Choose a JSON Lines file.</p>', status=400)
    refused: list[LineError] = []
    report: ImportReport = await import_users(
        ctx.site.stores.users,
        LineReader(io.BytesIO(data)),
        replace=ctx.form.get("update") == "1",
        default_role=ctx.site.settings.default_role,
        on_error=refused.append,
    )
    counts = report.counts
    await ctx.record(
        "console.users-import",
        "",
        f"{report.lines} line(s): {counts.created} created, {counts.updated} updated, {counts.skipped} left, "
        f"{report.error_count} refused",
    )
    e = render.escape
    rows = [[e(str(error.line)), e(error.problem)] for error in refused[:SHOWN_ERRORS]]
    more = (
        f"<p>{len(refused) - SHOWN_ERRORS} more refused line(s) counted, not shown.</p>"
        if len(refused) > SHOWN_ERRORS
        else ""
    )
    body = (
        render.table(
            ("lines read", "created", "updated", "left as they were (they exist)", "refused"),
            [
                [
                    str(report.lines),
                    str(counts.created),
                    str(counts.updated),
                    str(counts.skipped),
                    str(report.error_count),
                ]
            ],
        )
        + "<h2>Refused lines</h2>"
        + render.table(("line", "why"), rows, empty="none: every line was taken")
        + more
        + f"<p>{render.link(ctx.base + 'users', 'Back to the users')}</p>"
    )
    return ctx.page("Import report", body)


USERS_ROUTES = (
    ("users", ("GET",), list_users),
    ("users/view", ("GET",), view_user),
    ("users/role", ("POST",), change_role),
    ("users/meta", ("POST",), change_meta),
    ("users/verify", ("POST",), mark_verified),
    ("users/revoke-verified", ("POST",), revoke_verified),
    ("users/export", ("GET",), export),
    ("users/import", ("POST",), import_file),
)
