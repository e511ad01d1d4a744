"""The analytics report: one self-contained HTML file with charts drawn as inline SVG.

No script, no stylesheet or font from anywhere else, no library: the file opens offline
and under any Content-Security-Policy that allows inline styles. Every text from the
registry (reasons, countries, device names, the site) is escaped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape

from asgi_sessionsync.stores.accounts import HERE, AccountStats
from asgi_sessionsync.stores.analytics import SiteAnalytics
from asgi_sessionsync.stores.stats import SessionStats

COLORS = {"logins": "#2f6fdb", "ends": "#8a8f98", "blocked": "#d1452f"}
Series = tuple[str, str, Sequence[int]]  # label, color, one value per day
PALETTE = ("#2f6fdb", "#1f9d74", "#e0a100", "#8e5cd9", "#d1452f", "#3aa7c9", "#8a8f98", "#c2571a", "#5b7c2e")


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _bars(title: str, data: Mapping[str, int], *, empty: str = "nothing in this period") -> str:
    """Horizontal bars, one per key, largest scale to the widest bar."""
    width, row, label_w = 460, 26, 150
    items = list(data.items())
    height = max(1, len(items)) * row + 8
    parts = [f"<figure><figcaption>{escape(title)}</figcaption>"]
    if not items:
        return parts[0] + f'<p class="empty">{escape(empty)}</p></figure>'
    top = max(v for _, v in items) or 1
    parts.append(f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">')
    for i, (key, value) in enumerate(items):
        y = 4 + i * row
        bar = (width - label_w - 60) * value / top
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(key or "(unknown)")}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="{row - 8}" rx="3" fill="{color}"/>'
            f'<text x="{label_w + bar + 6:.1f}" y="{y + 16}" class="value">{value}</text>'
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def _days(title: str, days: Sequence[str], series: Sequence[Series]) -> str:
    """Values per day (``days``: YYYY-MM-DD), one column per series: grouped columns with a value axis."""
    width, height, left, bottom, top_pad = 940, 260, 44, 40, 14
    parts = [f'<figure class="wide"><figcaption>{escape(title)}</figcaption>']
    if not days:
        return parts[0] + '<p class="empty">no days in this period</p></figure>'
    peak = max((max(values, default=0) for _, _, values in series), default=0) or 1
    step = 10 ** max(0, len(str(peak)) - 1)
    scale_top = ((peak + step - 1) // step) * step
    plot_h = height - bottom - top_pad
    slot = (width - left - 10) / len(days)
    bar = max(1.0, min(18.0, slot / (len(series) + 1)))
    parts.append(f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">')
    for tick in range(5):
        value = scale_top * tick / 4
        y = top_pad + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{value:g}</text>'
        )
    every = max(1, len(days) // 12)
    for i, day in enumerate(days):
        x0 = left + i * slot + (slot - len(series) * bar) / 2
        for j, (label, color, values) in enumerate(series):
            h = plot_h * values[i] / scale_top
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}"'
                f' fill="{color}"><title>{escape(day)} {escape(label)}: {values[i]}</title></rect>'
            )
        if i % every == 0:
            parts.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle"'
                f' class="axis">{escape(day[5:])}</text>'
            )
    legend_y = height - 8
    for k, (label, color, _) in enumerate(series):
        x = left + k * 130
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 18}" y="{legend_y}">{escape(label)}</text>'
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def _kpi(label: str, value: str, note: str = "") -> str:
    extra = f"<small>{escape(note)}</small>" if note else ""
    return f'<div class="kpi"><b>{escape(value)}</b><span>{escape(label)}</span>{extra}</div>'


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px 32px;color:#1d2330;
background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px} .sub{color:#5d6472;margin:0 0 18px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.kpi{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:12px 16px;min-width:120px}
.kpi b{display:block;font-size:24px} .kpi span{color:#5d6472} .kpi small{display:block;color:#8a8f98}
.grid2{display:flex;flex-wrap:wrap;gap:16px}
figure{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:12px 14px;margin:0 0 16px}
figure.wide{width:fit-content} figcaption{font-weight:600;margin-bottom:6px}
svg text{font-size:12px;fill:#1d2330} svg .axis{fill:#5d6472;font-size:11px} svg .value{fill:#5d6472}
svg .grid{stroke:#e8eaee} .empty{color:#8a8f98;margin:4px 0} .note{color:#a1581a}
"""


def _session_days(stats: SessionStats) -> str:
    days = stats.days
    return _days(
        "Logins, ended sessions and blocked sign-ins per day (UTC)",
        [d.day for d in days],
        [
            ("logins", COLORS["logins"], [d.logins for d in days]),
            ("ended", COLORS["ends"], [d.ends for d in days]),
            ("blocked", COLORS["blocked"], [d.blocked for d in days]),
        ],
    )


NONE = "no users"
ACCOUNT_SERIES = (
    ("accounts created", "#1f9d74"),
    ("deleted", "#8a8f98"),
    ("password resets", "#e0a100"),
    ("failed logins", "#d1452f"),
)


def _account_days(figures: SiteAnalytics) -> str:
    days = [d.day for d in figures.sessions.days]
    per_day = figures.events.days
    created = figures.accounts.created
    series: list[Series] = [
        (
            label,
            color,
            [created.get(d, 0) if label == "accounts created" else per_day.get(d, {}).get(label, 0) for d in days],
        )
        for label, color in ACCOUNT_SERIES
    ]
    return _days("Accounts created and deleted, password resets and failed logins per day (UTC)", days, series)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _accounts(accounts: AccountStats) -> dict[str, int]:
    return {("this site" if by == HERE else by): n for by, n in accounts.provisioned_by.items()}


def _changes(figures: SiteAnalytics) -> dict[str, int]:
    return {
        f"{action} · {'here' if where == 'here' else 'from a peer'}": n
        for action, by_where in figures.events.user_changes.items()
        for where, n in by_where.items()
    }


def sections(figures: SiteAnalytics) -> str:
    """The report's KPIs and charts (HTML, inline SVG): the file's body and the console's
    analytics page alike."""
    stats, events, accounts = figures.sessions, figures.events, figures.accounts
    note = ""
    if stats.truncated:
        note = f'<p class="note">Computed from the first {SessionStats.MAX_ROWS} sessions of the registry.</p>'
    if accounts.truncated:
        note += f'<p class="note">Accounts counted from the first {AccountStats.MAX_ROWS} users or marks.</p>'
    success_note = (
        f"{figures.logins_here} of {figures.login_attempts} attempts"
        if events.total_failed
        else "no failed login reported by the app (record_failed_login): blocked sign-ins only"
    )
    kpis = "".join(
        (
            _kpi("logins", str(stats.total_logins), ", ".join(f"{v} {k}" for k, v in stats.logins.items())),
            _kpi("login success", _percent(figures.login_success), success_note),
            _kpi("failed logins", str(events.total_failed), "reported by the app"),
            _kpi("blocked sign-ins", str(stats.blocked)),
            _kpi("active sessions", str(stats.active_sessions)),
            _kpi("active users", str(stats.active_users)),
            _kpi("ended sessions", str(stats.total_ended)),
            _kpi("turnover", f"{stats.turnover:.0%}", "ended ÷ (active + ended)"),
            _kpi("spam sessions", str(events.total_spam), "bots, scripts, bursts from one address"),
            _kpi("accounts created", str(accounts.total_created)),
            _kpi("password resets", str(events.password_resets)),
            _kpi("users", str(accounts.users), f"{accounts.verified} verified addresses"),
        )
    )
    return (
        f'{note}<div class="kpis">{kpis}</div>'
        f"{_session_days(stats)}"
        '<div class="grid2">'
        f"{_bars('Logins by how they started', stats.logins)}"
        f"{_bars('Ended sessions by reason', stats.ended)}"
        f"{_bars('Sessions by device class', stats.devices)}"
        f"{_bars('Sessions by country', stats.countries)}"
        f"{_bars('Sessions by client type', stats.clients)}"
        f"{_bars('Spam sessions by why', events.spam_sessions)}"
        "</div>"
        f"{_account_days(figures)}"
        '<div class="grid2">'
        f"{_bars('Users by role', accounts.roles, empty=NONE)}"
        f"{_bars('Users by origin (this site, or the peer that provisioned them)', _accounts(accounts), empty=NONE)}"
        f"{_bars('User changes', _changes(figures))}"
        f"{_bars('Failed logins', events.failed_logins, empty='none reported by the app')}"
        "</div>"
    )


def period(stats: SessionStats) -> str:
    return f"{_when(stats.since)} — {_when(stats.until)}"


def render(figures: SiteAnalytics, *, site: str) -> str:
    """The report as one HTML document."""
    stats = figures.sessions
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Session analytics · {escape(site)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Session analytics · {escape(site)}</h1>"
        f'<p class="sub">{escape(period(stats))}'
        " · this site's registry: a sign-in synced here from a peer is a login via a peer</p>"
        f"{sections(figures)}</body></html>\n"
    )
