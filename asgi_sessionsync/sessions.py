"""Users and sessions of one site: provisioning, starting, resolving and ending sessions.

The session cookie is an envelope of purpose ``session`` naming a row of the session
registry; the registry is the authority on whether it is still active, and is asked
on every request, so that a sign-out anywhere takes effect at once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from starlette.types import Scope

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.protocol import SessionPayload
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, Stores, User, new_id, normalize_email
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import header
from asgi_sessionsync.validation import email_or_none, printable

logger = logging.getLogger("asgi_sessionsync")

TOUCH_EVERY = 60.0  # seconds between two "last seen" writes of one session
# Opened session cookies kept in memory, so a signed-in request costs a registry
# look-up rather than a decryption. Bounded; the registry is still asked every time.
OPENED_MAX = 10_000


class ActiveSession(NamedTuple):
    """A signed-in session, as the request sees it."""

    sid: str
    user: str
    name: str
    role: str
    chain: str
    # False for a login that must stay on this site: adopted from the app's own cookie,
    # or made by a request from another site. Such a session is never vouched for.
    shared: bool = True
    # The network a peer's sign-in came through: vouched for in that network only, so
    # that sign-in never crosses from one network into another. None: this site's own.
    network: str | None = None
    # Whether the address is known to be verified (see SessionPayload): vouched for as
    # such to the peers that pull this session.
    email_verified: bool = False


class Sessions:
    """Users and sessions of one site, over its stores."""

    def __init__(self, settings: Settings, stores: Stores, tokens: Tokens, address: ClientAddress) -> None:
        self.settings = settings
        self.stores = stores
        self.tokens = tokens
        self.address = address
        self.origin = settings.origin
        self.log = site_log(logger.name, settings.origin)
        self._opened: dict[tuple[str, str], tuple[float, ActiveSession, float]] = {}
        #: Ends the app's own login by its reference (``SessionRecord.app_ref``) when the
        #: session it goes with ends here. Set by the middleware when its identity adapter
        #: is an ``AppLoginAdapter``; None (no app login of its own) otherwise.
        self.end_app_login: Callable[[str], Awaitable[None]] | None = None
        # Governance: seconds without a recorded request after which a session of a role
        # is idle (already widened by TOUCH_EVERY), and who ends it everywhere. Set by Site.
        self.idle_after: dict[str, float] = {}
        self.idle_default = math.inf
        self.on_idle: Callable[[ActiveSession, SessionRecord], Awaitable[None]] | None = None

    async def ensure_user(self, email: str, *, name: str = "", vouched_by: str | None = None) -> User | None:
        """The stored user; auto-provisioned (default role, never a peer's) when allowed.
        None for anything that is not a valid email: such a user is never made."""
        address = email_or_none(email)
        if address is None:
            return None
        email = address
        user = await self.stores.users.get(email)
        if user is not None:
            return user
        if vouched_by is not None and not self.settings.auto_provision:
            return None
        self.log.info("provisioning user %s (vouched for by %s)", email, vouched_by or "this site's app")
        return await self.stores.users.create(
            User(
                email=email,
                role=self.settings.default_role,
                name=name,
                created_at=time.time(),
                provisioned_by=vouched_by,
            )
        )

    async def start(
        self,
        user: User,
        *,
        chain: str | None,
        scope: Scope,
        via: str,
        shared: bool = True,
        network: str | None = None,
        app_ref: str | None = None,
        country: str = "",
        device: str = "",
        email_verified: bool = False,
    ) -> tuple[ActiveSession, str]:
        """Record a new session; return it and the value of its cookie. ``shared`` False
        keeps it on this site: no peer is ever told of it. ``app_ref``: the app's own
        login that goes with it (ended with it). ``country`` and ``device`` are recorded
        as the governor found them. ``email_verified``: whether the address is known to
        be verified (carried in the cookie, vouched for to peers)."""
        now = time.time()
        host = self.address.host(scope) or ""
        record = SessionRecord(
            sid=new_id(),
            user=user.email,
            chain=chain or new_id(),
            site=self.origin,
            ip=host,
            user_agent=header(scope, b"user-agent")[:300],
            created_at=now,
            last_seen_at=now,
            via=via,
            expires_at=now + self.settings.session_lifetime,
            app_ref=app_ref,
            country=country,
            device=device,
        )
        await self.stores.sessions.create(record)
        token = self.tokens.seal_for_self(
            Purpose.SESSION,
            subject=user.email,
            ttl=self.settings.session_lifetime,
            ip=self.address.binding.value(host or None),
            extra=SessionPayload(
                record.sid, record.chain, user.name, user.role, shared, network, email_verified
            ).to_wire(),
        )
        self.log.info("session started for %s via %s", user.email, via)
        session = ActiveSession(
            record.sid, user.email, user.name, user.role, record.chain, shared, network, email_verified
        )
        return session, token

    async def start_synced(
        self,
        user: User,
        *,
        chain: str,
        scope: Scope,
        via: str,
        network: str,
        app_ref: str | None = None,
        country: str = "",
        device: str = "",
        email_verified: bool = False,
    ) -> tuple[ActiveSession, str]:
        """A session that a peer's sign-in made here. Any other session of the same chain
        on this site is ended first: a chain is one browser, so those are orphans (their
        cookie was lost, for example purged by the browser's bounce-tracking protection)."""
        await self._end_user(
            user.email, reason="replaced: this browser synced the same sign-in again", when=time.time(), chain=chain
        )
        return await self.start(
            user,
            chain=chain,
            scope=scope,
            via=via,
            network=network,
            app_ref=app_ref,
            country=country,
            device=device,
            email_verified=email_verified,
        )

    async def resolve(self, token: str, ip: str) -> ActiveSession | None:
        """The active session a cookie names, or None (invalid, expired, ended, other IP).

        A cookie that opened before (same text, same IP binding, not yet expired) is
        not decrypted again; whether its session is still active is asked of the
        registry on every request, so a revocation takes effect at once.
        """
        now = time.time()
        key = (token, ip)
        cached = self._opened.get(key)
        if cached is not None and now <= cached[0]:
            session, idle_after = cached[1], cached[2]
        else:
            try:
                claims = self.tokens.open(token, Purpose.SESSION, ip=ip)
            except EnvelopeError as error:
                self.log.debug("session cookie refused: %s", error.reason)
                return None
            payload = SessionPayload.from_wire(claims.extra)
            if payload is None:
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
            )
            if len(self._opened) >= OPENED_MAX:
                del self._opened[next(iter(self._opened))]
            idle_after = self.idle_after.get(session.role, self.idle_default)
            self._opened[key] = (claims.expires_at + self.settings.clock_skew, session, idle_after)
        record = await self.stores.sessions.get(session.sid)
        if record is None or record.ended_at is not None or record.user != session.user:
            return None
        if now - record.last_seen_at > idle_after:  # inf without an idle timeout: one comparison
            await self._idle(session, record)
            return None
        if now - record.last_seen_at > TOUCH_EVERY:
            await self.stores.sessions.touch(record.sid, now)
        return session

    async def _idle(self, session: ActiveSession, record: SessionRecord) -> None:
        if self.on_idle is not None:
            await self.on_idle(session, record)
        else:
            await self.stores.sessions.end(record.sid, reason="idle", when=time.time())

    # -- ending sessions, and the app's own logins that go with them ------------------------

    async def end(self, sid: str, reason: str) -> None:
        """End one session here, quietly (peers are not told)."""
        record = await self.stores.sessions.get(sid) if self.end_app_login is not None else None
        if await self.stores.sessions.end(sid, reason=reason, when=time.time()) and record and record.app_ref:
            await self.end_app_logins([record.app_ref])

    async def end_chain(self, session: ActiveSession, *, reason: str, when: float) -> int:
        """End this browser's sessions here: the user's sessions of ``session``'s chain."""
        return await self._end_user(session.user, reason=reason, when=when, chain=session.chain)

    async def end_user(self, email: str, *, reason: str, when: float) -> int:
        """End every session of a user here (every browser)."""
        return await self._end_user(email, reason=reason, when=when)

    async def apply_logout(
        self,
        email: str,
        *,
        chain: str | None,
        signed_out_at: float,
        issuer: str,
        reason: str | None = None,
        seen_before: float | None = None,
    ) -> int:
        """A peer said a user signed out (or, with ``reason``, that a session of theirs
        ended for it: idle, limit, revoked). A chain's sign-out ends every session of that
        chain whatever the clocks say (its issuing session is gone: no newer session can
        join it); a sign-out of all the user's sessions (``chain`` None) ends those made
        before ``signed_out_at`` (this site's time), so a late message spares a newer login.
        With ``seen_before`` (an idle chain), only those not seen here after that time
        (within the one-minute granularity of ``last_seen_at``): a session still in use
        here stays, and goes idle here in its own time."""
        why = f"signed out on {issuer}"
        if reason:
            why = f"{printable(reason, 80)} (on {issuer})"
        if seen_before is None or chain is None:
            before = signed_out_at if chain is None else None
            return await self._end_user(email, reason=why, when=time.time(), chain=chain, created_before=before)
        ended = 0
        for record in await self.stores.sessions.search(user=email, active=True):
            idle_here = record.chain == chain and record.last_seen_at <= seen_before + TOUCH_EVERY
            if idle_here and await self.stores.sessions.end(record.sid, reason=why, when=time.time()):
                ended += 1
                if record.app_ref is not None:
                    await self.end_app_logins([record.app_ref])
        return ended

    async def _end_user(
        self, email: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        refs = await self.app_refs(email, chain=chain, created_before=created_before)
        ended = await self.stores.sessions.end_user(
            normalize_email(email), reason=reason, when=when, chain=chain, created_before=created_before
        )
        await self.end_app_logins(refs)
        return ended

    async def app_refs(self, email: str, *, chain: str | None = None, created_before: float | None = None) -> list[str]:
        """The app logins of the user's active sessions (of ``chain``, created up to
        ``created_before``): what ending those sessions must end too. Empty when the app
        has no login of its own."""
        if self.end_app_login is None:
            return []
        return [
            r.app_ref
            for r in await self.stores.sessions.list(user=email)
            if r.app_ref is not None
            and (chain is None or r.chain == chain)
            and (created_before is None or r.created_at <= created_before)
        ]

    async def end_app_logins(self, refs: Iterable[str]) -> None:
        """End these app logins on the app's side. A failure is logged (never the
        reference) and does not stop the rest: the registry refuses such a login anyway
        when it comes back, since its session has ended."""
        end = self.end_app_login
        if end is None:
            return
        for ref in dict.fromkeys(refs):
            try:
                await end(ref)
            except Exception as error:
                kind = type(error).__name__
                self.log.error("ending the app's own login failed (%s); it is refused when it comes back", kind)

    async def app_login_ended(self, ref: str) -> bool:
        """Whether the app login ``ref`` went with a session that has ended (or outlived
        its lifetime): such a login is dead, never adopted again."""
        record = await self.stores.sessions.find_by_app_ref(ref)
        return record is not None and not record.live(time.time())
