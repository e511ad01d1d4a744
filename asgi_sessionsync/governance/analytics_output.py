"""The ``analytics`` command's output: a table, JSON, CSV, or the HTML report
(:mod:`asgi_sessionsync.governance.report`), of the figures :func:`site_analytics` computes."""

from __future__ import annotations

import csv
import io
import json
import time

from asgi_sessionsync.stores.accounts import HERE, AccountStats
from asgi_sessionsync.stores.analytics import SiteAnalytics
from asgi_sessionsync.stores.stats import SessionStats
from asgi_sessionsync.validation import csv_cell


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def stats_rows(figures: SiteAnalytics) -> list[tuple[str, str, str]]:
    """(section, key, value) rows: the table and CSV forms."""
    stats, events, accounts = figures.sessions, figures.events, figures.accounts
    success = figures.login_success
    rows: list[tuple[str, str, str]] = [
        ("period", "since", _when(stats.since)),
        ("period", "until", _when(stats.until)),
        ("kpi", "logins", str(stats.total_logins)),
        ("kpi", "login success", "-" if success is None else f"{success:.1%}"),
        ("kpi", "failed logins", str(events.total_failed)),
        ("kpi", "blocked sign-ins", str(stats.blocked)),
        ("kpi", "active sessions", str(stats.active_sessions)),
        ("kpi", "active users", str(stats.active_users)),
        ("kpi", "ended sessions", str(stats.total_ended)),
        ("kpi", "turnover", f"{stats.turnover:.1%}"),
        ("kpi", "spam sessions", str(events.total_spam)),
        ("kpi", "accounts created", str(accounts.total_created)),
        ("kpi", "password resets", str(events.password_resets)),
        ("kpi", "users", str(accounts.users)),
        ("kpi", "verified addresses", str(accounts.verified)),
    ]
    rows += [("logins by how", k, str(v)) for k, v in stats.logins.items()]
    rows += [("ended by reason", k, str(v)) for k, v in stats.ended.items()]
    rows += [("sessions by device", k or "(unknown)", str(v)) for k, v in stats.devices.items()]
    rows += [("sessions by client type", k or "(unknown)", str(v)) for k, v in stats.clients.items()]
    rows += [("sessions by country", k or "(unknown)", str(v)) for k, v in stats.countries.items()]
    rows += [("spam sessions by why", k, str(v)) for k, v in events.spam_sessions.items()]
    rows += [("failed logins by account", k, str(v)) for k, v in events.failed_logins.items()]
    rows += [
        ("user changes", f"{action} {where}", str(n))
        for action, by_where in events.user_changes.items()
        for where, n in by_where.items()
    ]
    rows += [("users by role", k, str(v)) for k, v in accounts.roles.items()]
    rows += [("users made", "here" if k == HERE else f"by {k}", str(v)) for k, v in accounts.provisioned_by.items()]
    rows += [("per day", d.day, f"logins {d.logins}, ended {d.ends}, blocked {d.blocked}") for d in stats.days]
    rows += [("accounts created per day", day, str(n)) for day, n in accounts.created.items()]
    if stats.truncated:
        rows.append(("note", "truncated", f"computed from the first {SessionStats.MAX_ROWS} rows"))
    if accounts.truncated:
        rows.append(("note", "accounts truncated", f"counted from the first {AccountStats.MAX_ROWS} users or marks"))
    return rows


def render_stats(figures: SiteAnalytics, fmt: str, site: str) -> str:
    if fmt == "json":
        return json.dumps({"site": site, **figures.as_dict()}, indent=2) + "\n"
    if fmt == "html":
        from asgi_sessionsync.governance.report import render

        return render(figures, site=site)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["section", "key", "value"])
        writer.writerows([csv_cell(c) for c in line] for line in stats_rows(figures))
        for d in figures.sessions.days:
            writer.writerow(["day", d.day, f"{d.logins};{d.ends};{d.blocked}"])
        return buffer.getvalue()
    lines = [f"Session analytics of {site}"]
    section = ""
    for group, key, value in stats_rows(figures):
        if group != section:
            section = group
            lines.append(f"\n{group}:")
        lines.append(f"  {key:<28} {value}")
    return "\n".join(lines) + "\n"
