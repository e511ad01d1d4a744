"""The demo's three sites (``python -m demo`` serves them; tests use ``asgi_sessionsync.testing``).

- Site A: a Starlette app using the middleware's own session; alice@example.com signs in here.
- Site B: the same kind of app with no accounts of its own: users arrive from peers
  (auto-provisioned). With the demo's network file (``demo/network.toml``: every user
  action on) a user arrives with its password, so it can then sign in on B directly.
- Site C: an ordinary Starlette app with its own ``request.session`` login that knows
  nothing of the middleware (bob@example.com); only wrapped by it.

Every site has the operator's console at ``/_sessionsync/console/`` and each user's own
sessions at ``/_sessionsync/account`` (docs/console.md): alice@example.com is an
administrator of site A (the app's own check, ``console_admit``: her role stays
``member``, so she still signs in everywhere by sync).

Every form (sign in, sign out) carries a CSRF token: a random value in a ``demo-csrf``
cookie (HttpOnly, ``SameSite=Lax``) and the same value in a hidden ``csrf`` field,
compared in constant time; a ``POST`` whose ``Origin`` is another site is refused too (so
a cookie planted by a sibling domain is not enough). A ``POST`` that fails either check
gets a 403 page and changes nothing. ``csrf=False`` (``python -m demo --no-csrf``) keeps
the field but accepts any post: it shows what the middleware alone does with an app that
has no CSRF protection (a cross-site sign-in stays on that site).
"""

from __future__ import annotations

import hmac
import html
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlencode

import anyio
import httpx
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync import Peer, SessionSyncMiddleware, Settings, sign_in, sign_out
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.stores import Stores, User, memory_stores, sqlite_stores
from asgi_sessionsync.users import get_user, set_password, update_user
from demo.passwords import hash_password, verify_password

NAMES = ("a", "b", "c")
NETWORK_FILE = Path(__file__).with_name("network.toml")
PORTS = {"a": 8001, "b": 8002, "c": 8003}
ACCOUNTS: dict[str, list[tuple[str, str]]] = {
    "a": [("alice@example.com", "wonderland")],
    "b": [],
    "c": [("bob@example.com", "builder")],
}
# Who may open each site's console (besides SESSIONSYNC_PRIVILEGED_ROLES): the app's own check.
ADMINISTRATORS: dict[str, frozenset[str]] = {"a": frozenset({"alice@example.com"}), "b": frozenset(), "c": frozenset()}


def console_admit(site: str) -> Callable[[HTTPConnection, User | None], bool]:
    """The demo's ``is_staff``: the emails of :data:`ADMINISTRATORS` for that site."""
    chosen = ADMINISTRATORS[site]

    def admit(request: HTTPConnection, user: User | None) -> bool:
        return user is not None and user.email in chosen

    return admit


CSRF_COOKIE = "demo-csrf"
CSRF_FIELD = "csrf"


def page(site: str, body: str, others: Mapping[str, str], status: int = 200) -> HTMLResponse:
    links = " · ".join(f'<a href="{html.escape(u)}/">Site {n.upper()}</a>' for n, u in others.items())
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Site {site.upper()}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
.site{{font-size:.9rem;color:#666}} form{{margin:1rem 0}} label{{display:block;margin:.5rem 0}}</style>
</head><body><p class="site">Site {site.upper()} · other sites: {links}</p>
{body}
</body></html>""",
        status_code=status,
    )


def _safe_next(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


# -- CSRF: a double-submit token, and the Origin of a post -------------------------------


def csrf_token(request: Request) -> tuple[str, bool]:
    """This browser's CSRF token, and whether it is new (to be set as a cookie)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if 32 <= len(existing) <= 64 and existing.isascii() and existing.replace("-", "").replace("_", "").isalnum():
        return existing, False
    return secrets.token_urlsafe(32), True


def with_csrf_cookie(request: Request, response: Response, token: str, new: bool) -> Response:
    if new:
        response.set_cookie(
            CSRF_COOKIE, token, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
        )
    return response


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{html.escape(token)}">'


def csrf_ok(request: Request, form: FormData) -> bool:
    """The form's token equals the cookie's, and the post comes from this site's own page."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD)
    if not cookie or not isinstance(sent, str):
        return False
    if not hmac.compare_digest(cookie.encode("utf-8", "replace"), sent.encode("utf-8", "replace")):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def csrf_refused(site: str, others: Mapping[str, str], back: str) -> HTMLResponse:
    return page(
        site,
        f"""<h1>Request refused</h1>
<p role="alert">This form did not come from this site's own page, or the page was too old.
Nothing was changed.</p>
<p><a href="{html.escape(back)}">Open the page again</a> and send the form from there.</p>""",
        others,
        status=403,
    )


def login_form(
    request: Request, site: str, others: Mapping[str, str], next_path: str, error: str = "", note: str = ""
) -> Response:
    message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    token, new = csrf_token(request)
    response = page(
        site,
        f"""<h1>Sign in to site {site.upper()}</h1>{message}{note}
<form method="post" action="/login">
<input type="hidden" name="next" value="{html.escape(next_path)}">
{csrf_field(token)}
<label>Email <input type="email" name="email" required autofocus></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button></form>""",
        others,
        status=401 if error else 200,
    )
    return with_csrf_cookie(request, response, token, new)


FLASH = "demo-flash"


def _names(others: Mapping[str, str]) -> str:
    return " and ".join(f"Site {n.upper()}" for n in others)


def flash_line(request: Request, others: Mapping[str, str]) -> str:
    """What the last sign-in or sign-out did to the other sites, said once."""
    what = request.cookies.get(FLASH)
    if what == "in":
        text = (
            f"You are signed in on {_names(others)} too: this site took your browser through them just now "
            "(a site that was down signs you in on your next visit there)."
        )
    elif what == "out":
        text = f"You are signed out of {_names(others)} too: this site told them directly, server to server."
    else:
        return ""
    return f'<p class="flash" role="status">{html.escape(text)}</p>'


def with_flash(response: Response, what: str | None) -> Response:
    """Set (``in``/``out``) or clear (None) the flash cookie on ``response``."""
    if what is None:
        response.delete_cookie(FLASH)
    else:
        response.set_cookie(FLASH, what, max_age=300, httponly=True, samesite="lax")
    return response


def shown(request: Request, response: Response) -> Response:
    return with_flash(response, None) if FLASH in request.cookies else response


def no_accounts_body(others: Mapping[str, str]) -> str:
    links = " or ".join(f'<a href="{html.escape(u)}/login">sign in on Site {n.upper()}</a>' for n, u in others.items())
    return f"""<h1>Not signed in</h1>
<p>This site has no accounts of its own: users arrive from {_names(others)}. To be signed in
here, {links}; you are signed in here too.</p>"""


def home_page(
    request: Request,
    site: str,
    others: Mapping[str, str],
    email: str | None,
    *,
    no_accounts: bool = False,
) -> Response:
    flash = flash_line(request, others)
    if not email:
        body = no_accounts_body(others) if no_accounts else '<h1>Not signed in</h1><p><a href="/login">Sign in</a></p>'
        return shown(request, page(site, flash + body, others))
    token, new = csrf_token(request)
    body = f"""<h1>Signed in as {html.escape(email)}</h1>
<p><a href="/account">Your account</a> · <a href="/_sessionsync/account">Your sessions</a>
· <a href="/_sessionsync/console/">Console</a></p>
<form method="post" action="/logout">{csrf_field(token)}<button type="submit">Sign out</button></form>"""
    return shown(request, with_csrf_cookie(request, page(site, flash + body, others), token, new))


def native_app(
    site: str, stores: Stores, others: Mapping[str, str], *, csrf: bool = True, has_accounts: bool = True
) -> Starlette:
    """A site whose login is the middleware's own session (``request.user``). Without
    accounts of its own (site B) it has no sign-in form: it says where users come from."""

    def current(request: Request) -> str | None:
        return request.user.email if request.user.is_authenticated else None

    async def home(request: Request) -> Response:
        return home_page(request, site, others, current(request), no_accounts=not has_accounts)

    async def account(request: Request) -> Response:
        email = current(request)
        if email is None:
            return RedirectResponse("/login?next=/account", status_code=303)
        note = ACCOUNT_NOTES.get(request.query_params.get("done", ""), "")
        if request.method == "POST":
            form = await request.form()
            if csrf and not csrf_ok(request, form):
                return csrf_refused(site, others, "/account")
            note = await change_account(request, email, form)
            if note in ACCOUNT_NOTES.values():
                # Post/redirect/get: a new password signs this browser in again (every other
                # session ended everywhere), and a redirect lets that sign-in reach the
                # other sites at once.
                done = next(k for k, v in ACCOUNT_NOTES.items() if v == note)
                return RedirectResponse(f"/account?done={done}", status_code=303)
        return account_page(request, site, others, email, await get_user(request, email), note)

    async def login(request: Request) -> Response:
        note = "" if has_accounts else no_accounts_note(others)
        if request.method == "GET":
            return login_form(request, site, others, _safe_next(request.query_params.get("next")), note=note)
        form = await request.form()
        next_path = _safe_next(form.get("next"))
        if csrf and not csrf_ok(request, form):
            return csrf_refused(site, others, "/login?" + urlencode({"next": next_path}))
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        user = await stores.users.get(email)
        if user is None or not await anyio.to_thread.run_sync(verify_password, password, user.password_hash):
            return login_form(request, site, others, next_path, "Wrong email or password.", note)
        sign_in(request, user.email, name=user.name)
        return with_flash(RedirectResponse(next_path, status_code=303), "in")

    async def logout(request: Request) -> Response:
        if csrf and not csrf_ok(request, await request.form()):
            return csrf_refused(site, others, "/")
        sign_out(request)
        return with_flash(RedirectResponse("/", status_code=303), "out")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/account", account, methods=["GET", "POST"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
        ]
    )


def no_accounts_note(others: Mapping[str, str]) -> str:
    links = " or ".join(f'<a href="{html.escape(u)}/login">sign in on Site {n.upper()}</a>' for n, u in others.items())
    return f"""<p>This site has no accounts of its own: users arrive from {_names(others)} ({links}).
A user who arrived here with a password (user sync) can sign in with it below.</p>"""


ACCOUNT_NOTES = {
    what: f"Changed your {what.replace(',', ' and ')} here; the other sites get it too (user sync)."
    for what in ("name", "password", "name,password")
}


async def change_account(request: Request, email: str, form: FormData) -> str:
    """The account form: a new display name and/or password, stored and sent to the
    other sites through the middleware's user-sync API. What was done, for the page."""
    done = []
    name = str(form.get("name", "")).strip()[:100]
    user = await get_user(request, email)
    if user is not None and name and name != user.name:
        await update_user(request, email, name=name)
        done.append("name")
    password = str(form.get("new_password", ""))
    if password:
        if len(password) < 8:
            return "A password needs at least 8 characters; nothing was changed."
        hashed = await anyio.to_thread.run_sync(hash_password, password)
        # In plain text too for a WordPress site of the network (docs/wordpress.md): its plugin takes no hash.
        await set_password(request, email, hashed, wordpress_password=password)
        done.append("password")
    if not done:
        return "Nothing to change."
    return ACCOUNT_NOTES[",".join(done)]


def account_page(
    request: Request, site: str, others: Mapping[str, str], email: str, user: User | None, note: str
) -> Response:
    token, new = csrf_token(request)
    name = user.name if user is not None else ""
    message = f'<p class="flash" role="status">{html.escape(note)}</p>' if note else ""
    body = f"""<h1>Account of {html.escape(email)}</h1>{message}
<p>Signed in as {html.escape(email)}</p>
<p>Name: <span class="name">{html.escape(name) or "(none)"}</span></p>
<form method="post" action="/account">{csrf_field(token)}
<label>Name <input type="text" name="name" value="{html.escape(name)}" maxlength="100"></label>
<label>New password <input type="password" name="new_password" autocomplete="new-password"></label>
<button type="submit">Save</button></form>"""
    response = shown(request, page(site, flash_line(request, others) + body, others))
    return with_csrf_cookie(request, response, token, new)


def session_app(
    site: str,
    users: Mapping[str, str],
    secret_key: str,
    others: Mapping[str, str],
    *,
    csrf: bool = True,
    same_site: Literal["lax", "strict", "none"] = "lax",
    https_only: bool = False,
) -> Starlette:
    """An ordinary Starlette app with its own request.session login; knows nothing of sync.
    Its cookie's ``SameSite`` and ``Secure`` are the ones the middleware is told about
    (``SESSIONSYNC_APP_SESSION_SAMESITE``, ``SESSIONSYNC_APP_SESSION_HTTPS_ONLY``)."""

    async def home(request: Request) -> Response:
        return home_page(request, site, others, request.session.get("user"))

    async def account(request: Request) -> Response:
        email = request.session.get("user")
        if not email:
            return RedirectResponse("/login?next=/account", status_code=303)
        body = f"<h1>Account of {html.escape(email)}</h1><p>Signed in as {html.escape(email)}</p>"
        return shown(request, page(site, flash_line(request, others) + body, others))

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_form(request, site, others, _safe_next(request.query_params.get("next")))
        form = await request.form()
        next_path = _safe_next(form.get("next"))
        if csrf and not csrf_ok(request, form):
            return csrf_refused(site, others, "/login?" + urlencode({"next": next_path}))
        email = str(form.get("email", "")).strip().lower()
        if not await anyio.to_thread.run_sync(verify_password, str(form.get("password", "")), users.get(email)):
            return login_form(request, site, others, next_path, "Wrong email or password.")
        request.session["user"] = email
        return with_flash(RedirectResponse(next_path, status_code=303), "in")

    async def logout(request: Request) -> Response:
        if csrf and not csrf_ok(request, await request.form()):
            return csrf_refused(site, others, "/")
        request.session.clear()
        return with_flash(RedirectResponse("/", status_code=303), "out")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/account", account),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=secret_key, same_site=same_site, https_only=https_only)],
    )


@dataclass
class Site:
    name: str
    url: str
    app: SessionSyncMiddleware
    stores: Stores


async def build_sites(
    urls: Mapping[str, str],
    backchannel_urls: Mapping[str, str],
    *,
    secret: str,
    data_dir: Path | None,
    sync_mode: str = "bounce",
    transport: httpx.AsyncBaseTransport | None = None,
    app_session_secret: str = "site-c-own-session-secret",
    csrf: bool = True,
    environ: Mapping[str, str] | None = None,
    **settings: Any,
) -> dict[str, Site]:
    """The three wrapped sites. ``data_dir`` None keeps everything in memory; ``csrf``
    False makes the forms accept posts without a valid token (see the module's doc).
    ``environ``: ``SESSIONSYNC_*`` variables for what the demo does not set itself (its
    URLs, keys, peers, stores and sync mode are its own)."""
    sites: dict[str, Site] = {}
    for name in NAMES:
        stores = sqlite_stores(data_dir / f"site-{name}.sqlite3") if data_dir else memory_stores()
        others = {n: urls[n] for n in NAMES if n != name}
        peers = [Peer(urls[n], backchannel_urls[n]) for n in NAMES if n != name]
        options: dict[str, Any] = {
            "site_url": urls[name],
            "secret_keys": [secret],
            "peers": peers,
            "sync_mode": sync_mode,
            **settings,
        }
        if "SESSIONSYNC_NETWORK_FILE" not in (environ or {}):
            options.setdefault("network_rules", NetworkRules.load(NETWORK_FILE))
        if name == "c":
            options.update(identity="starlette-session", app_session_secret=app_session_secret)
        config = Settings.from_env(environ or {}, env_file=None, **options)
        if name == "c":
            hashes = {
                email: await anyio.to_thread.run_sync(hash_password, password) for email, password in ACCOUNTS["c"]
            }
            # The demo's own defaults where the settings leave them to the app (Starlette's).
            same_site = cast(Literal["lax", "strict", "none"], config.app_session.app_session_samesite or "lax")
            secure = bool(config.app_session.app_session_https_only)
            inner = session_app(
                name, hashes, app_session_secret, others, csrf=csrf, same_site=same_site, https_only=secure
            )
        else:
            inner = native_app(name, stores, others, csrf=csrf, has_accounts=bool(ACCOUNTS[name]))
            for email, password in ACCOUNTS[name]:
                if await stores.users.get(email) is None:
                    password_hash = await anyio.to_thread.run_sync(hash_password, password)
                    await stores.users.create(User(email=email, role="member", password_hash=password_hash))
        app = SessionSyncMiddleware(
            inner, config, stores=stores, transport=transport, console_admit=console_admit(name)
        )
        sites[name] = Site(name, urls[name], app, stores)
    return sites
