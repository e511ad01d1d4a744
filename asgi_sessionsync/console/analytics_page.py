"""Analytics: the HTML report's KPIs and charts (its own code: inline SVG, no script)
for a chosen period, computed as ``analytics`` computes them."""

from __future__ import annotations

import time
from argparse import ArgumentTypeError

from starlette.responses import Response

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.governance.commands import parse_since
from asgi_sessionsync.governance.report import period, sections
from asgi_sessionsync.stores.analytics import site_analytics

PERIODS = ("1d", "7d", "30d", "90d", "365d")


async def analytics_page(ctx: Ctx) -> Response:
    chosen = ctx.query("since") or "30d"
    now = time.time()
    try:
        since = parse_since(chosen, now)
    except (ArgumentTypeError, ValueError):
        chosen, since = "30d", parse_since("30d", now)
    started = time.perf_counter()
    figures = await site_analytics(ctx.site.stores, since, now)
    took = (time.perf_counter() - started) * 1000
    choices = " · ".join(
        f"<strong>{p}</strong>"
        if p == chosen
        else render.link(render.with_query(ctx.base + "analytics", {"since": p}), p)
        for p in PERIODS
    )
    body = (
        f"<p>Period: {choices} (or <code>?since=</code> a date, YYYY-MM-DD)</p>"
        f'<p class="muted">{render.escape(period(figures.sessions))} · this site\'s registry and users'
        f" · computed in {took:.0f} ms</p>" + sections(figures)
    )
    return ctx.page("Analytics", body)


ANALYTICS_ROUTES = (("analytics", ("GET",), analytics_page),)
