"""Identity for Quart apps that keep their login in Quart's cookie ``session``.

The app stays as it is (its login view sets ``session["user"] = email``, its logout view
clears the session). Give the adapter the app, whose secret key and session settings it
uses to read and write that signed cookie::

    asgi_app = SessionSyncMiddleware(app, identity=QuartSessionIdentity(app))

Importable only with Quart installed: ``pip install quart``.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, cookie_header, find_cookie, response_cookie
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.identity.base import Account, AppCookieLogin, keyed_ref
from asgi_sessionsync.validation import email_or_none

try:
    from itsdangerous import BadSignature
except ImportError as error:  # pragma: no cover - Quart depends on itsdangerous
    raise ImportError("the quart identity needs Quart: pip install quart") from error


class QuartSessionIdentity(AppCookieLogin):
    def __init__(self, app: Any, *, user_key: str = "user", cookie_policy: CookiePolicy | None = None) -> None:
        serializer = app.session_interface.get_signing_serializer(app)
        if serializer is None:
            raise ConfigError("secret_key", "the Quart app has no secret_key, so it has no session to share")
        self._serializer = serializer
        self._key: str | bytes = app.secret_key
        self.user_key = user_key
        self.cookie_name: str = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.policy = cookie_policy or CookiePolicy(
            path=app.config["SESSION_COOKIE_PATH"] or "/",
            domain=app.config["SESSION_COOKIE_DOMAIN"] or None,
            secure=bool(app.config["SESSION_COOKIE_SECURE"]),
            samesite=(app.config["SESSION_COOKIE_SAMESITE"] or "lax").lower(),
        )

    def _session(self, value: str | None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        return data if isinstance(data, dict) else None

    def _stored(self, value: str) -> object:
        """What the app keeps under its user key in this cookie (None: nothing, or not
        a valid cookie of the app)."""
        session = self._session(value)
        return session.get(self.user_key) if session is not None else None

    def _user(self, value: str) -> str | None:
        return email_or_none(self._stored(value))

    def _ref(self, value: str) -> str | None:
        stored = self._stored(value)
        return keyed_ref(self._key, self.cookie_name, stored) if stored is not None else None

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        value = find_cookie(cookie_header, self.cookie_name)
        return self._user(value) if value else None

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        found, value = response_cookie(headers, self.cookie_name)
        if not found:
            return before, ""
        return (self._user(value) if value else None), ""

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        # The app's session is the app's: only the login changes (an anonymous visitor's
        # cart stays); a session logged in as someone else is not carried over.
        session = self._session(find_cookie(cookie_header(scope["headers"]), self.cookie_name)) or {}
        if session.get(self.user_key) is not None and email_or_none(session[self.user_key]) != account.email:
            session = {}
        value = self._serializer.dumps({**session, self.user_key: account.email})
        return [self.policy.set(self.cookie_name, value, self.max_age)]
