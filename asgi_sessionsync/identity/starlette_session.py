"""Identity for apps that keep their login in Starlette's ``request.session``.

The app stays as it is: an ordinary Starlette app with ``SessionMiddleware`` whose
login handler sets ``request.session["user"] = email``. Given the same ``secret_key``,
this adapter reads that signed cookie, writes the login into it when a peer signs the
user in (only the login key changes: the rest of the app's session stays), and hides it
when the session registry says the session has ended.

An app that keeps something else under its key (a user id, or a token as sqladmin's
authentication backends do) gives the adapter ``to_email`` and ``from_email``, a pair of
async functions mapping the stored value to an email and back (docs/identity.md).
"""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, cookie_header, find_cookie, response_cookie
from asgi_sessionsync.identity.base import APP_LOGIN_UNREADABLE, Account, AppCookieLogin, keyed_ref
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.validation import email_or_none

try:
    import itsdangerous
    from itsdangerous.exc import BadSignature, SignatureExpired
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the starlette-session identity needs itsdangerous: pip install 'asgi-sessionsync[starlette-session]'"
    ) from error

logger = package_log("asgi_sessionsync")

ToEmail = Callable[[Any], Awaitable[str | None]]
FromEmail = Callable[[str], Awaitable[Any]]
_SEEN = "sessionsync.app_login"  # scope key: (stored value, email) as read before the app ran
_UNREADABLE = object()  # a cookie that is there, but whose signature does not verify
WRONG_KEY_HINT = (
    "SESSIONSYNC_APP_SESSION_SECRET (or the secret read from the app's SessionMiddleware) is not the secret_key "
    "the app signs its cookie with"
)


UNREADABLE_COOKIE = (
    "the app's session cookie %r is there but its signature does not verify: %s. Nothing is concluded from it "
    "(nobody is signed in or out because of it) and no peer's sign-in is written over it until the secret is "
    "right. Said once."
)
UNREAD_BY_APP = (
    "the app did not read its session cookie %r, which this middleware reads a login from: %s (or its cookie "
    "name or max_age differ). The login is kept, not taken for a sign-out. Said once."
)


def read_session(signer: itsdangerous.TimestampSigner, value: str | None, max_age: int | None) -> object | None:
    """The app's session (a dict) in a cookie value: None for none (or expired, or not a
    session), :data:`_UNREADABLE` for a signature that does not verify."""
    if not value:
        return None
    try:
        data = signer.unsign(value.encode("utf-8"), max_age=max_age)
    except SignatureExpired:
        return None  # the app's login ran out: that is "nobody"
    except BadSignature:
        return _UNREADABLE
    try:
        decoded = json.loads(b64decode(data))
    except (ValueError, TypeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _text(session: dict[str, Any], key: str | None) -> str:
    value = session.get(key) if key else None
    return value.strip()[:200] if isinstance(value, str) else ""


class StarletteSessionIdentity(AppCookieLogin):
    """The app's ``request.session`` login.

    ``to_email(value)``: the email of what the app stores under ``user_key`` (None: no
    one); ``from_email(email)``: what to store there to sign that user in (None: the app
    cannot, and the peer's sign-in is skipped). Give both or neither; without them the
    stored value must be the email itself. Both are called rarely: ``to_email`` once per
    request that carries the app's cookie (cache it if it does I/O), ``from_email`` once
    per sign-in a peer makes here. A value that is not a valid email is ignored (never
    synced), and said once in the log. ``name_key``: the session key holding the user's
    display name, read at the app's sign-ins and written at a peer's.

    A cookie this adapter cannot read (its signature does not verify: another secret)
    is never taken for "nobody": nothing is concluded from it (said once), and a peer's
    sign-in is not written over it. The same when the app could not read the cookie this
    adapter reads (the app saw no session at all): a secret that is not the app's.
    """

    def __init__(
        self,
        secret_key: str | bytes,
        *,
        session_cookie: str = "session",
        user_key: str = "user",
        name_key: str | None = None,
        max_age: int | None = 14 * 24 * 3600,
        cookie_policy: CookiePolicy | None = None,
        to_email: ToEmail | None = None,
        from_email: FromEmail | None = None,
    ) -> None:
        if (to_email is None) != (from_email is None):
            raise ValueError("give StarletteSessionIdentity both to_email and from_email, or neither")
        key = secret_key.decode() if isinstance(secret_key, bytes) else secret_key
        self._key = key
        self._signer = itsdangerous.TimestampSigner(key)
        self.cookie_name = session_cookie
        self.user_key = user_key
        self.name_key = name_key
        self.max_age = max_age
        self.policy = cookie_policy or CookiePolicy()
        self._to_email = to_email
        self._from_email = from_email
        self._said_not_an_email = False
        self._said_unreadable = False
        self._said_unread_by_app = False

    def _decode(self, value: str | None) -> object | None:
        return read_session(self._signer, value, self.max_age)

    def _session(self, value: str | None) -> dict[str, Any] | None:
        decoded = self._decode(value)
        return decoded if isinstance(decoded, dict) else None

    async def _email(self, stored: Any) -> str | None:
        """The email a stored value names; None for nothing, or for a value that is not
        an email (said once: the value itself is never logged, it may be a token)."""
        if stored is None:
            return None
        email = email_or_none(stored if self._to_email is None else await self._to_email(stored))
        if email is None and not self._said_not_an_email:
            self._said_not_an_email = True
            logger.warning(
                "the app's session holds a value under %r that is not an email address: it is ignored, never "
                "synced. An app that keeps a user id or a token there gives StarletteSessionIdentity to_email= "
                "and from_email= (see docs/identity.md). Said once.",
                self.user_key,
            )
        return email

    def _ref(self, value: str) -> str | None:
        session = self._session(value)
        stored = session.get(self.user_key) if session else None
        return keyed_ref(self._key, self.cookie_name, stored) if stored is not None else None

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        session = self._decode(find_cookie(cookie_header, self.cookie_name))
        if session is _UNREADABLE:
            scope[APP_LOGIN_UNREADABLE] = True
            if not self._said_unreadable:
                self._said_unreadable = True
                logger.warning(UNREADABLE_COOKIE, self.cookie_name, WRONG_KEY_HINT)
            return None
        if not isinstance(session, dict):
            return None
        stored = session.get(self.user_key)
        email = await self._email(stored)
        scope[_SEEN] = (stored, email)
        return email

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        session = scope.get("session")
        if not isinstance(session, dict) or scope.get(APP_LOGIN_UNREADABLE):
            # The app's SessionMiddleware did not run (an endpoint of ours), or its
            # cookie could not be read here: nothing is concluded either way.
            return before, ""
        stored = session.get(self.user_key)
        seen = scope.get(_SEEN)
        if seen is not None and seen[1] is not None and stored is None and self._unread_by_app(session, headers):
            return before, ""
        name = _text(session, self.name_key) if stored is not None else ""
        if seen is not None and seen[0] == stored:
            return seen[1], name  # the same login as before the app ran: no second look-up
        return await self._email(stored), name

    def _unread_by_app(self, session: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether the app saw no session at all in a cookie this adapter read a login
        from: its session is empty, and the app neither cleared it (Starlette marks a
        cleared session modified, and deletes the cookie) nor wrote a new one. Then the
        app could not read the cookie: its secret (or cookie name, or max_age) is not
        the one given here. Never a sign-out."""
        if session or getattr(session, "modified", False) or response_cookie(headers, self.cookie_name)[0]:
            return False
        if not self._said_unread_by_app:
            self._said_unread_by_app = True
            logger.warning(UNREAD_BY_APP, self.cookie_name, WRONG_KEY_HINT)
        return True

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        current_cookie = find_cookie(cookie_header(scope["headers"]), self.cookie_name)
        decoded = self._decode(current_cookie)
        if decoded is _UNREADABLE:
            # A cookie of the app's that cannot be read here: writing over it would lose
            # the app's session, and the app could not read what would be written.
            scope[APP_LOGIN_UNREADABLE] = True
            return None
        stored = account.email if self._from_email is None else await self._from_email(account.email)
        if stored is None:
            return None
        # The app's session is the app's: only the login changes (an anonymous visitor's
        # cart stays). A session logged in as someone else is not carried over, as
        # Django's login() does not carry another user's session over.
        session = decoded if isinstance(decoded, dict) else {}
        current = session.get(self.user_key)
        if current is not None and await self._email(current) != account.email:
            session = {}
        session[self.user_key] = stored
        if self.name_key and account.name:
            session[self.name_key] = account.name
        data = b64encode(json.dumps(session).encode("utf-8"))
        signed = self._signer.sign(data).decode("utf-8")
        return [self.policy.set(self.cookie_name, signed, self.max_age)]
