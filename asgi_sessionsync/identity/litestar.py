"""Identity for Litestar apps with client-side (cookie) sessions.

The app stays as it is (its login handler calls ``request.set_session({"user": email})``,
its logout handler ``request.clear_session()``). Give the adapter the app's
``CookieBackendConfig``; the adapter uses Litestar's own backend to read and write that
encrypted cookie (including its ``session-0``, ``session-1`` … chunks)::

    config = CookieBackendConfig(secret=...)
    app = Litestar(route_handlers=[...], middleware=[config.middleware])
    asgi_app = SessionSyncMiddleware(app, identity=LitestarSessionIdentity(config))

Importable only with Litestar installed: ``pip install litestar``.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable
from typing import Any

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, cookie_header
from asgi_sessionsync.identity.base import Account, AppCookieLogin, Headers, keyed_ref
from asgi_sessionsync.validation import email_or_none

try:
    from cryptography.exceptions import InvalidTag
    from litestar.middleware.session.client_side import ClientSideSessionBackend
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("the litestar identity needs Litestar: pip install litestar") from error


class LitestarSessionIdentity(AppCookieLogin):
    def __init__(self, config: Any, *, user_key: str = "user", cookie_policy: CookiePolicy | None = None) -> None:
        self._backend = ClientSideSessionBackend(config)
        self._key: bytes = config.secret
        self.key: str = config.key
        self.cookie_name = self.key
        self.user_key = user_key
        self.max_age = int(config.max_age)
        self._names = re.compile(rf"{re.escape(self.key)}(?:-(\d+))?")
        self.policy = cookie_policy or CookiePolicy(
            path=config.path or "/",
            domain=config.domain,
            secure=bool(config.secure),
            samesite=(config.samesite or "lax").lower(),
        )

    def _chunks(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[int, str]]:
        found = []
        for name, value in pairs:
            match = self._names.fullmatch(name)
            if match:
                found.append((int(match.group(1) or 0), value.strip().strip('"')))
        return sorted(found)

    def _session(self, chunks: list[tuple[int, str]]) -> dict[str, Any] | None:
        if not chunks or any(value in ("", "null") for _, value in chunks):
            return None
        try:
            data = self._backend.load_data([value.encode("latin-1") for _, value in chunks])
        except (InvalidTag, binascii.Error, ValueError, TypeError, KeyError):
            return None
        return data if isinstance(data, dict) else None

    def _stored(self, chunks: list[tuple[int, str]]) -> object:
        """What the app keeps under its user key in these cookie chunks (None: nothing,
        or not a valid cookie of the app)."""
        session = self._session(chunks)
        return session.get(self.user_key) if session is not None else None

    def _user(self, chunks: list[tuple[int, str]]) -> str | None:
        return email_or_none(self._stored(chunks))

    def _ref_of(self, chunks: list[tuple[int, str]]) -> str | None:
        stored = self._stored(chunks)
        return keyed_ref(self._key, self.cookie_name, stored) if stored is not None else None

    def app_ref(self, cookie_header: bytes | None) -> str | None:
        return self._ref_of(self._chunks(self._request_cookies(cookie_header)))

    def response_app_ref(self, headers: Headers) -> str | None:
        return self._ref_of(self._chunks(self._response_cookies(headers)))

    @staticmethod
    def _request_cookies(header: bytes | None) -> list[tuple[str, str]]:
        pairs = []
        for part in (header or b"").decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            pairs.append((name, value))
        return pairs

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        return self._user(self._chunks(self._request_cookies(cookie_header)))

    def forget(self, scope: Scope) -> list[bytes]:
        # Litestar may spread its session over session-0, session-1 …: hide them all.
        kept: list[tuple[bytes, bytes]] = []
        names: list[str] = []
        for key, value in scope["headers"]:
            if key != b"cookie":
                kept.append((key, value))
                continue
            parts = []
            for part in value.decode("latin-1").split(";"):
                name = part.strip().partition("=")[0]
                if self._names.fullmatch(name):
                    names.append(name)
                elif part.strip():
                    parts.append(part.strip())
            if parts:
                kept.append((key, "; ".join(parts).encode("latin-1")))
        scope["headers"] = kept
        return [self.policy.delete(name) for name in names] or self.logout_cookies()

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        chunks = self._chunks(self._response_cookies(headers))
        if not chunks:
            return before, ""
        return self._user(chunks), ""

    @staticmethod
    def _response_cookies(headers: Headers) -> list[tuple[str, str]]:
        pairs = []
        for key, value in headers:
            if key.lower() == b"set-cookie":
                name, _, rest = value.decode("latin-1").partition("=")
                pairs.append((name, rest.split(";", 1)[0]))
        return pairs

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        # The app's session is the app's: only the login changes (an anonymous visitor's
        # cart stays); a session logged in as someone else is not carried over.
        session = self._session(self._chunks(self._request_cookies(cookie_header(scope["headers"])))) or {}
        if session.get(self.user_key) is not None and email_or_none(session[self.user_key]) != account.email:
            session = {}
        data = self._backend.dump_data({**session, self.user_key: account.email})
        if len(data) == 1:
            return [self.policy.set(self.key, data[0].decode("latin-1"), self.max_age)]
        return [
            self.policy.set(f"{self.key}-{i}", chunk.decode("latin-1"), self.max_age) for i, chunk in enumerate(data)
        ]
