"""The analytics report in Chromium: it draws its charts offline, from nothing but the file."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from asgi_sessionsync.governance.report import render
from asgi_sessionsync.stores import SessionRecord, User, sqlite_stores
from asgi_sessionsync.stores.analytics import site_analytics
from tests.e2e.harness import OUTPUT, require_chromium

DAY = 86400.0


async def registry_stats(path: Path) -> Any:
    rng = random.Random(7)
    now = time.time()
    stores = sqlite_stores(path)
    try:
        for i in range(400):
            created = now - rng.random() * 10 * DAY
            blocked = i % 25 == 0
            ended = created if blocked else (created + 600 if i % 3 else None)
            reason = "blocked: max_sessions" if blocked else rng.choice(["signed out", "idle", "expired"])
            await stores.sessions.create(
                SessionRecord(
                    sid=f"s{i}",
                    user=f"user{i % 40}@example.com",
                    chain=f"c{i}",
                    site="https://a.example",
                    ip="198.51.100.1",
                    user_agent="UA",
                    created_at=created,
                    last_seen_at=created,
                    via=rng.choice(["login", "hop from https://b.example", "adopted from the app's own login"]),
                    ended_at=ended,
                    end_reason=reason if ended else None,
                    expires_at=created + 14 * DAY,
                    country=rng.choice(["DE", "FR", "US", ""]),
                    device=rng.choice(
                        ["desktop/Chrome/Linux/browser", "mobile/Mobile Safari/iOS/browser", "other/curl/Other/library"]
                    ),
                )
            )
        # #26: accounts, and what the site counts beside its sessions.
        for i in range(30):
            provisioned = "https://b.example" if i % 3 else None
            created = now - rng.random() * 10 * DAY
            user = User(f"user{i}@example.com", rng.choice(["member", "editor"]), created_at=created)
            await stores.users.create(dataclasses.replace(user, provisioned_by=provisioned))
        counted = [
            ("login.failed", "unknown account", 12),
            ("login.failed", "known account", 5),
            ("session.spam", "burst", 4),
            ("user.password", "here", 3),
            ("user.delete", "peer", 2),
        ]
        for kind, key, n in counted:
            for _ in range(n):
                await stores.counts.add(kind, key, now - rng.random() * 10 * DAY)
        return await site_analytics(stores, now - 10 * DAY, now)
    finally:
        await stores.close()


def test_the_html_report_draws_every_chart_offline_in_chromium(
    open_browser: Callable[..., Any], tmp_path: Path
) -> None:
    require_chromium()
    # Playwright's sync API keeps an event loop in this thread: the store runs in another.
    with ThreadPoolExecutor(1) as pool:
        stats = pool.submit(asyncio.run, registry_stats(tmp_path / "registry.sqlite3")).result()
    report = tmp_path / "report.html"
    report.write_text(render(stats, site="https://a.example"), encoding="utf-8")

    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    page.set_viewport_size({"width": 1100, "height": 900})
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(report.as_uri())
    assert requested == [report.as_uri()] and errors == []
    assert page.locator("h1").inner_text() == "Session analytics · https://a.example"
    charts = page.locator("svg")
    # Logins per day; by how, end reason, device class, country, client type, spam; accounts per
    # day; users by role and by origin, user changes, failed logins.
    assert charts.count() == 12
    for index in range(12):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 30  # one bar: 34 px
    assert page.locator("svg rect").count() > 40  # 11 days by 3 series, and the bars
    kpis = dict(zip(page.locator(".kpi span").all_inner_texts(), page.locator(".kpi b").all_inner_texts(), strict=True))
    assert kpis["logins"] == str(stats.sessions.total_logins) and kpis["blocked sign-ins"] == str(
        stats.sessions.blocked
    )
    assert kpis["failed logins"] == "17" and kpis["spam sessions"] == "4" and kpis["password resets"] == "3"
    assert kpis["users"] == "30" and kpis["login success"].endswith("%")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "analytics-report.png"), full_page=True)
