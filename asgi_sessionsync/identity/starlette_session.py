"""Identity for apps that keep their login in Starlette's ``request.session``.

The app stays as it is: an ordinary Starlette app with ``SessionMiddleware`` whose
login handler sets ``request.session["user"] = email``. Given the same ``secret_key``,
this adapter reads that signed cookie, writes it when a peer signs the user in, and
hides it when the session registry says the session has ended.
"""

from __future__ import annotations

import json
from base64 import b64decode, b64encode

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie
from asgi_sessionsync.identity.base import Account, AppCookieLogin, keyed_ref
from asgi_sessionsync.stores import normalize_email

try:
    import itsdangerous
    from itsdangerous.exc import BadSignature
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the starlette-session identity needs itsdangerous: pip install 'asgi-sessionsync[starlette-session]'"
    ) from error


class StarletteSessionIdentity(AppCookieLogin):
    def __init__(
        self,
        secret_key: str | bytes,
        *,
        session_cookie: str = "session",
        user_key: str = "user",
        max_age: int | None = 14 * 24 * 3600,
        cookie_policy: CookiePolicy | None = None,
    ) -> None:
        key = secret_key.decode() if isinstance(secret_key, bytes) else secret_key
        self._key = key
        self._signer = itsdangerous.TimestampSigner(key)
        self.cookie_name = session_cookie
        self.user_key = user_key
        self.max_age = max_age
        self.policy = cookie_policy or CookiePolicy()

    def _decode(self, value: str) -> dict[str, object] | None:
        try:
            data = self._signer.unsign(value.encode("utf-8"), max_age=self.max_age)
            decoded = json.loads(b64decode(data))
        except (BadSignature, ValueError, TypeError):
            return None
        return decoded if isinstance(decoded, dict) else None

    def _ref(self, value: str) -> str | None:
        session = self._decode(value)
        stored = session.get(self.user_key) if session else None
        return keyed_ref(self._key, self.cookie_name, stored) if stored is not None else None

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        value = find_cookie(cookie_header, self.cookie_name)
        if value is None:
            return None
        session = self._decode(value)
        user = session.get(self.user_key) if session else None
        return normalize_email(user) if isinstance(user, str) and user else None

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        session = scope.get("session")
        if not isinstance(session, dict):
            return before, ""  # the app's SessionMiddleware did not run (an endpoint of ours)
        user = session.get(self.user_key)
        return (normalize_email(user) if isinstance(user, str) and user else None), ""

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        data = b64encode(json.dumps({self.user_key: account.email}).encode("utf-8"))
        signed = self._signer.sign(data).decode("utf-8")
        return [self.policy.set(self.cookie_name, signed, self.max_age)]
