"""Reference apps for tests: two small Starlette sites with a login, to wrap in the middleware.

Both follow one page contract, the one :class:`~asgi_sessionsync.testing.Browser` reads:

- ``GET /`` shows ``<h1>Signed in as EMAIL</h1>`` (with a ``/logout`` form) or
  ``<h1>Not signed in</h1>``;
- ``GET /login`` is a form with a hidden ``next`` and a hidden CSRF field; ``POST
  /login`` takes ``email``, ``password``, ``next`` (and the CSRF field) and answers a 303
  to ``next``, or the form again with status 401 and "Wrong email or password.";
- ``POST /logout`` signs out and answers a 303 to ``/``;
- ``GET /account`` shows ``<h1>Account of EMAIL</h1>``, or a 303 to the login form.

CSRF is a double-submit token: a ``kit-csrf`` cookie (``SameSite=Lax``) and the same value
in the forms; a ``POST`` without both gets a 403. ``csrf_check=False`` still renders the
field but accepts any post, for tests of what the middleware does with a sign-in that an
unprotected app accepted (login CSRF from another site, a script's raw ``POST``).

:func:`login_app` signs in through the middleware (``sign_in``/``sign_out``) and reports a
wrong password (``record_failed_login``);
:func:`session_login_app` is an ordinary ``request.session`` app that knows nothing of the
middleware (wrap it with ``identity="starlette-session"``; it needs ``itsdangerous``).

Passwords are kept as a salted SHA-256 and compared with :func:`hmac.compare_digest`:
fast enough never to block the event loop, and fine for a TEST kit only — a real app
stores passwords with a slow hash (scrypt, argon2, bcrypt) run off the event loop.
Forms are read as ``application/x-www-form-urlencoded`` without ``python-multipart``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync.failed_logins import record_failed_login
from asgi_sessionsync.identity import sign_in, sign_out

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "login_app", "session_login_app"]

CSRF_COOKIE = "kit-csrf"
CSRF_FIELD = "csrf"


class _Accounts:
    """Emails and passwords, kept as salted SHA-256 digests (a test kit's shortcut)."""

    def __init__(self, accounts: Mapping[str, str]) -> None:
        self._salt = os.urandom(16)
        self._digests = {email.strip().lower(): self._digest(password) for email, password in accounts.items()}
        self._unknown = self._digest(secrets.token_hex(16))

    def _digest(self, password: str) -> bytes:
        return hashlib.sha256(self._salt + password.encode("utf-8")).digest()

    def check(self, email: str, password: str) -> str | None:
        """The normalized email when the password is right; None otherwise."""
        key = email.strip().lower()
        right = hmac.compare_digest(self._digest(password), self._digests.get(key, self._unknown))
        return key if right and key in self._digests else None


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _here(request: Request, path: str) -> str:
    """``path`` on this site, under the path the site is mounted at."""
    root: str = request.scope.get("root_path", "")
    return root + path


def _safe_next(value: str | None) -> str:
    text = value or ""
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


class _Pages:
    """The HTML of one site, and its CSRF token handling."""

    def __init__(self, site: str, others: Mapping[str, str]) -> None:
        self.site = site
        self.others = dict(others)

    def page(self, request: Request, body: str, *, status: int = 200, new_token: str | None = None) -> Response:
        """A page of this site; ``new_token``: a CSRF token to set as the cookie."""
        links = " · ".join(
            f'<a href="{html.escape(u)}/">Site {html.escape(n.upper())}</a>' for n, u in self.others.items()
        )
        name = html.escape(self.site.upper())
        response = HTMLResponse(
            f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Site {name}</title></head>
<body><p class="site">Site {name} · other sites: {links}</p>
{body}
</body></html>""",
            status_code=status,
        )
        if new_token is not None:
            response.set_cookie(
                CSRF_COOKIE,
                new_token,
                path="/",
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response

    @staticmethod
    def csrf(request: Request) -> tuple[str, bool]:
        """This browser's CSRF token, and whether it is new (to be set as a cookie)."""
        existing = request.cookies.get(CSRF_COOKIE)
        return (existing, False) if existing else (secrets.token_urlsafe(24), True)

    @staticmethod
    def csrf_ok(request: Request, form: Mapping[str, str]) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = form.get(CSRF_FIELD, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())

    def home(self, request: Request, email: str | None) -> Response:
        if email:
            token, new = self.csrf(request)
            body = f"""<h1>Signed in as {html.escape(email)}</h1>
<p><a href="{html.escape(_here(request, "/account"))}">Your account</a></p>
<form method="post" action="{html.escape(_here(request, "/logout"))}">
<input type="hidden" name="{CSRF_FIELD}" value="{html.escape(token)}"><button type="submit">Sign out</button></form>"""
            return self.page(request, body, new_token=token if new else None)
        return self.page(
            request, f'<h1>Not signed in</h1><p><a href="{html.escape(_here(request, "/login"))}">Sign in</a></p>'
        )

    def account(self, request: Request, email: str | None) -> Response:
        if email is None:
            return RedirectResponse(_here(request, "/login?next=/account"), status_code=303)
        shown = html.escape(email)
        return self.page(request, f"<h1>Account of {shown}</h1><p>Signed in as {shown}</p>")

    def login_form(self, request: Request, next_path: str, error: str = "") -> Response:
        message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
        token, new = self.csrf(request)
        body = f"""<h1>Sign in to site {html.escape(self.site.upper())}</h1>{message}
<form method="post" action="{html.escape(_here(request, "/login"))}">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<input type="hidden" name="{CSRF_FIELD}" value="{html.escape(token)}">
<label>Email <input type="email" name="email" required autofocus></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button></form>"""
        return self.page(request, body, status=401 if error else 200, new_token=token if new else None)


def _site(
    pages: _Pages,
    accounts: _Accounts,
    current: Callable[[Request], str | None],
    log_in: Callable[[Request, str], None],
    log_out: Callable[[Request], None],
    *,
    csrf_check: bool,
    middleware: list[Middleware] | None = None,
    failed: Callable[[Request, str], Awaitable[None]] | None = None,
) -> Starlette:
    async def home(request: Request) -> Response:
        return pages.home(request, current(request))

    async def account(request: Request) -> Response:
        return pages.account(request, current(request))

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return pages.login_form(request, _safe_next(request.query_params.get("next")))
        form = await _form(request)
        if csrf_check and not pages.csrf_ok(request, form):
            return PlainTextResponse("CSRF check failed", status_code=403)
        next_path = _safe_next(form.get("next"))
        email = accounts.check(form.get("email", ""), form.get("password", ""))
        if email is None:
            if failed is not None:
                await failed(request, form.get("email", ""))
            return pages.login_form(request, next_path, "Wrong email or password.")
        log_in(request, email)
        return RedirectResponse(_here(request, next_path), status_code=303)

    async def logout(request: Request) -> Response:
        if csrf_check and not pages.csrf_ok(request, await _form(request)):
            return PlainTextResponse("CSRF check failed", status_code=403)
        log_out(request)
        return RedirectResponse(_here(request, "/"), status_code=303)

    routes: list[Route] = [
        Route("/", home),
        Route("/account", account),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=middleware)


def login_app(
    site: str,
    accounts: Mapping[str, str] | None = None,
    others: Mapping[str, str] | None = None,
    *,
    csrf_check: bool = True,
) -> Starlette:
    """A site whose login is the middleware's own session: ``sign_in``/``sign_out`` and
    ``request.user``. Wrap it in :class:`~asgi_sessionsync.SessionSyncMiddleware`
    (default identity).

    ``site`` names it on its pages; ``accounts`` maps email → password (none: users only
    arrive from peers); ``others`` maps the other sites' names to their URLs, linked
    from every page; ``csrf_check=False`` accepts posts without the CSRF token."""

    def current(request: Request) -> str | None:
        user = request.user
        return str(user.email) if user.is_authenticated else None

    def log_in(request: Request, email: str) -> None:
        sign_in(request, email)

    def log_out(request: Request) -> None:
        sign_out(request)

    pages, known = _Pages(site, others or {}), _Accounts(accounts or {})
    return _site(pages, known, current, log_in, log_out, csrf_check=csrf_check, failed=record_failed_login)


def session_login_app(
    site: str,
    accounts: Mapping[str, str] | None = None,
    others: Mapping[str, str] | None = None,
    *,
    secret_key: str,
    user_key: str = "user",
    csrf_check: bool = True,
    same_site: Literal["lax", "strict", "none"] = "lax",
    https_only: bool = False,
) -> Starlette:
    """An ordinary Starlette app with its own ``request.session`` login (Starlette's
    ``SessionMiddleware`` with ``secret_key``, ``same_site`` and ``https_only``; the email
    under ``user_key``); it knows nothing of the middleware. Wrap it with
    ``identity="starlette-session"`` and ``app_session_secret=secret_key`` (and
    ``app_session_samesite``, ``app_session_https_only`` when not the defaults). Other
    arguments as for :func:`login_app`."""
    from starlette.middleware.sessions import SessionMiddleware  # needs itsdangerous

    def current(request: Request) -> str | None:
        email = request.session.get(user_key)
        return email if isinstance(email, str) and email else None

    def log_in(request: Request, email: str) -> None:
        request.session[user_key] = email

    def log_out(request: Request) -> None:
        request.session.clear()

    return _site(
        _Pages(site, others or {}),
        _Accounts(accounts or {}),
        current,
        log_in,
        log_out,
        csrf_check=csrf_check,
        middleware=[Middleware(SessionMiddleware, secret_key=secret_key, same_site=same_site, https_only=https_only)],
    )
