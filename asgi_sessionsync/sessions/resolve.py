"""Resolving a session cookie on every request: opened once (cached), the registry asked
every time, so that a sign-out anywhere takes effect at once; an idle session ended."""

from __future__ import annotations

import contextlib
import enum
import math
import time
from collections.abc import Awaitable, Callable, Mapping

from asgi_sessionsync.exceptions import EnvelopeError, StoreUnavailable
from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.protocol import SessionPayload
from asgi_sessionsync.sessions.active import TOUCH_EVERY, ActiveSession
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionPeek, SessionRecord, Stores
from asgi_sessionsync.tokens import Tokens


class Later(enum.Enum):
    """What :meth:`SessionResolver.resolve_now` answers when it must await."""

    LATER = "later"


LATER = Later.LATER

# Opened session cookies kept in memory, so a signed-in request costs a registry
# look-up rather than a decryption. Bounded; the registry is still asked every time.
OPENED_MAX = 10_000


class SessionResolver:
    """Which session a cookie names, on every request: the opened cookie cached, the
    registry asked every time, an idle session ended."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        tokens: Tokens,
        log: SiteLog,
        *,
        idle_after: Mapping[str, float] | None = None,
        idle_default: float = math.inf,
        on_idle: Callable[[ActiveSession, SessionRecord], Awaitable[None]] | None = None,
    ) -> None:
        """``idle_after`` / ``idle_default``: seconds without a recorded request after
        which a session of a role is idle (already widened by ``TOUCH_EVERY``; the
        policy's, from ``IdleSessions``); ``on_idle``: who ends an idle session
        (everywhere its chain lives); without it, it ends here only."""
        self.settings = settings
        self.stores = stores
        self.tokens = tokens
        self.log = log
        self._opened: dict[tuple[str, str], tuple[float, ActiveSession, float]] = {}
        self.idle_after = dict(idle_after or {})
        self.idle_default = idle_default
        self.on_idle = on_idle
        self._peek = stores.sessions.peek if isinstance(stores.sessions, SessionPeek) else None

    def resolve_now(self, token: str, ip: str) -> ActiveSession | Later | None:
        """:meth:`resolve` without awaiting, when this process can tell: the registry
        answers from memory (:class:`~asgi_sessionsync.stores.SessionPeek`) and the session
        is neither idle nor due for a "last seen" write. Else ``LATER``: await
        :meth:`resolve_later`. The common signed-in request, with no coroutine of its own."""
        now = time.time()
        opened = self._open(token, ip, now)
        if opened is None:
            return None
        session, idle_after = opened
        peek = self._peek
        record = peek(session.sid) if peek is not None else None
        if record is None:
            return LATER
        if _gone(session, record):
            return None
        quiet_for = now - record.last_seen_at
        if quiet_for > TOUCH_EVERY or quiet_for > idle_after:  # "last seen" to write, or idle
            return LATER
        return _served(session, record)

    async def resolve(self, token: str, ip: str) -> ActiveSession | None:
        """The active session a cookie names, or None (invalid, expired, ended, other IP).

        A cookie that opened before (same text, same IP binding, not yet expired) is
        not decrypted again; whether its session is still active is asked of the
        registry on every request, so a revocation takes effect at once.
        """
        answer = self.resolve_now(token, ip)
        return await self.resolve_later(token, ip) if answer is LATER else answer

    async def resolve_later(self, token: str, ip: str) -> ActiveSession | None:
        """:meth:`resolve` for a cookie :meth:`resolve_now` answered ``LATER``: the
        registry asked (with I/O), an idle session ended, "last seen" written when due."""
        now = time.time()
        opened = self._open(token, ip, now)
        if opened is None:
            return None
        session, idle_after = opened
        record = await self.stores.sessions.get(session.sid)
        if record is None or _gone(session, record):
            return None
        if now - record.last_seen_at > idle_after:  # inf without an idle timeout: one comparison
            await self._idle(session, record)
            return None
        if now - record.last_seen_at > TOUCH_EVERY:
            # "Last seen" is written again at the next request if the store cannot now.
            with contextlib.suppress(StoreUnavailable):
                await self.stores.sessions.touch(record.sid, now)
        return _served(session, record)

    def _open(self, token: str, ip: str, now: float) -> tuple[ActiveSession, float] | None:
        """The session a cookie names and its role's idle limit (the cookie opened once,
        then cached), or None when the cookie is refused."""
        key = (token, ip)
        cached = self._opened.get(key)
        if cached is not None and now <= cached[0]:
            session, idle_after = cached[1], cached[2]
        else:
            try:
                claims, payload = self.tokens.open_message(token, SessionPayload, ip=ip)
            except EnvelopeError as error:
                self.log.debug("session cookie refused: %s", error.reason)
                return None
            session = ActiveSession(
                payload.sid,
                claims.subject,
                payload.name,
                payload.role,
                payload.chain,
                payload.shared,
                payload.network,
                payload.email_verified,
                payload.signed_in_at,
            )
            if len(self._opened) >= OPENED_MAX:
                del self._opened[next(iter(self._opened))]
            idle_after = self.idle_after.get(session.role, self.idle_default)
            self._opened[key] = (claims.expires_at + self.settings.clock_skew, session, idle_after)
        return session, idle_after

    async def _idle(self, session: ActiveSession, record: SessionRecord) -> None:
        """End an idle session (everywhere, with a policy). It is not served either way: if
        the store cannot end it now, the idle pass or its next request will."""
        with contextlib.suppress(StoreUnavailable):
            if self.on_idle is not None:
                await self.on_idle(session, record)
            else:
                await self.stores.sessions.end(record.sid, reason="idle", when=time.time())


def _gone(session: ActiveSession, record: SessionRecord) -> bool:
    """The session ended, or its id now names another user's."""
    return record.ended_at is not None or record.user != session.user


def _served(session: ActiveSession, record: SessionRecord) -> ActiveSession:
    """The session as served, with its start (a cookie from before it was written lacks it)."""
    return session if session.signed_in_at else session._replace(signed_in_at=record.created_at)
