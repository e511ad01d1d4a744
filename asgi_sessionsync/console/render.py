"""The console's HTML: one layout, escaped values, and the headers every page carries.

No script, no stylesheet or font from anywhere else: one ``<style>`` with this response's
nonce, under ``default-src 'none'``. Every page works with JavaScript off (links and
plain forms). Never cached, never framed, never sniffed, its URL never sent to another site as Referer.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, Response

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:10px 24px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header a{color:#cfe0ff;text-decoration:none}header a.here{color:#fff;font-weight:600;border-bottom:2px solid #fff}
header .who{margin-left:auto;color:#aab3c2;font-size:13px}
main{padding:18px 24px;max-width:1200px}h1{font-size:22px;margin:6px 0 14px}h2{font-size:17px;margin:22px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
form.inline{display:inline;margin:0}
form.filters{background:#fff;padding:10px;border:1px solid #e3e6ea;margin-bottom:12px;display:flex;gap:10px;
flex-wrap:wrap}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
input,select,button{font:inherit;font-size:13px;padding:3px 6px}
button{background:#2f6fdb;color:#fff;border:0;border-radius:4px;padding:4px 10px;cursor:pointer}
button.danger{background:#c0392b}
.ok{color:#1f7a4d}.fail{color:#c0392b;font-weight:600}.warn{color:#a66a00}
.flash{background:#e6f4ea;border:1px solid #b7dfc3;padding:8px 12px}
.alert{background:#fdecea;border:1px solid #f5c2bd;padding:8px 12px}
.muted{color:#6b7380}.pager{margin:10px 0}code{font-size:12px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.kpi{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 14px;min-width:130px}
.kpi b{display:block;font-size:24px}.kpi span{color:#6b7380;font-size:12px}
figure{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px;margin:10px 0}
figcaption{font-weight:600;margin-bottom:6px}
svg text{font-size:12px;fill:#333}svg .value{fill:#555}.empty{color:#888}
svg .axis{fill:#6b7380;font-size:11px}svg .grid{stroke:#e8eaee}.note{color:#a1581a}
.kpi small{display:block;color:#8a8f98}
figure.wide{width:fit-content}.grid2{display:flex;flex-wrap:wrap;gap:12px}
"""

#: The console's pages: (path below the console, title), in the order of the menu.
MENU = (
    ("sessions", "Sessions"),
    ("users", "Users"),
    ("network", "Network"),
    ("analytics", "Analytics"),
    ("activity", "Activity log"),
    ("policy", "Policy"),
)


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def security_headers(nonce: str) -> dict[str, str]:
    """What every answer of the console carries (pages, downloads, refusals)."""
    return {
        "content-security-policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-frame-options": "DENY",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        # Not no-referrer: Chromium then sends "Origin: null" with the pages' own POSTs,
        # which the origin check refuses. same-origin leaks nothing to another site.
        "referrer-policy": "same-origin",
        "vary": "Cookie",
    }


def document(title: str, body: str, *, nonce: str, menu: str = "", who: str = "") -> str:
    """A whole page: the menu (when given), the heading and ``body`` (already HTML)."""
    top = f"<header>{menu}<span class=who>{escape(who)}</span></header>" if menu or who else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><style nonce="{nonce}">{STYLE}</style></head>'
        f"<body>{top}<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def menu(base: str, here: str) -> str:
    links = [f"<strong>{escape('Console')}</strong>"]
    for path, title in MENU:
        cls = ' class="here"' if path == here else ""
        links.append(f'<a href="{escape(base + path)}"{cls}>{escape(title)}</a>')
    return "".join(links)


def page(
    title: str, body: str, *, status: int = 200, menu_html: str = "", who: str = "", nonce: str | None = None
) -> Response:
    nonce = nonce or new_nonce()
    text = document(title, body, nonce=nonce, menu=menu_html, who=who)
    return HTMLResponse(text, status_code=status, headers=security_headers(nonce))


def refusal(status: int, title: str, message: str, *, link: str | None = None) -> Response:
    """A short page that says why, never a traceback."""
    back = f'<p><a href="{escape(link)}">Go on</a></p>' if link else ""
    return page(title, f'<p class="alert">{escape(message)}</p>{back}', status=status)


def table(headings: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str = "nothing to show") -> str:
    """A table; each cell is HTML already (escape values with :func:`escape`)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headings)}" class="muted">{escape(empty)}</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def post_button(
    action: str, label: str, csrf: str, fields: dict[str, str] | None = None, *, danger: bool = False
) -> str:
    """A one-button form that POSTs ``fields`` and the CSRF token to ``action``."""
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in (fields or {}).items())
    cls = ' class="danger"' if danger else ""
    return (
        f'<form class="inline" method="post" action="{escape(action)}">{hidden}'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit"{cls}>{escape(label)}</button></form>'
    )


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def with_query(path: str, values: dict[str, str]) -> str:
    kept = {k: v for k, v in values.items() if v}
    if not kept:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(kept)


def field(name: str, label: str, value: str, *, options: Sequence[str] | None = None, kind: str = "text") -> str:
    """One labelled filter input (a select when ``options`` are given; "" means any)."""
    if options is None:
        control = f'<input type="{kind}" name="{escape(name)}" value="{escape(value)}">'
    else:
        chosen = "".join(
            f'<option value="{escape(o)}"{" selected" if o == value else ""}>{escape(o or "any")}</option>'
            for o in ("", *options)
        )
        control = f'<select name="{escape(name)}">{chosen}</select>'
    return f"<label>{escape(label)}{control}</label>"


def when(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


__all__ = [
    "MENU",
    "document",
    "escape",
    "field",
    "link",
    "menu",
    "new_nonce",
    "page",
    "post_button",
    "refusal",
    "security_headers",
    "table",
    "when",
    "with_query",
]
