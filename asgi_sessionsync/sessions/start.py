"""Provisioning users and starting sessions: the registry row and the cookie's envelope."""

from __future__ import annotations

import time

from starlette.types import Scope

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.protocol import SessionPayload
from asgi_sessionsync.sessions.active import ActiveSession
from asgi_sessionsync.sessions.end import SessionEnder
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, Stores, User, new_id
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import header
from asgi_sessionsync.validation import email_or_none


class SessionStarter:
    """Provisioning users and starting sessions here."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        tokens: Tokens,
        address: ClientAddress,
        ender: SessionEnder,
        log: SiteLog,
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.tokens = tokens
        self.address = address
        self.origin = settings.origin
        self.ender = ender
        self.log = log

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
        signed_in_at: float | None = None,
    ) -> tuple[ActiveSession, str]:
        """Record a new session; return it and the value of its cookie. ``shared`` False
        keeps it on this site: no peer is ever told of it. ``app_ref``: the app's own
        login that goes with it (ended with it). ``country`` and ``device`` are recorded
        as the governor found them. ``email_verified``: whether the address is known to
        be verified (carried in the cookie, vouched for to peers). ``signed_in_at``: when
        the sign-in was made, for a peer's (default: now)."""
        now = time.time()
        signed_in_at = now if signed_in_at is None else min(signed_in_at, now)
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
                record.sid, record.chain, user.name, user.role, shared, network, email_verified, signed_in_at
            ).to_wire(),
        )
        self.log.info("session started for %s via %s", user.email, via)
        session = ActiveSession(
            record.sid, user.email, user.name, user.role, record.chain, shared, network, email_verified, signed_in_at
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
        signed_in_at: float | None = None,
    ) -> tuple[ActiveSession, str]:
        """A session that a peer's sign-in made here. Any other session of the same chain
        on this site is ended first: a chain is one browser, so those are orphans (their
        cookie was lost, for example purged by the browser's bounce-tracking protection)."""
        await self.ender.end_sessions(
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
            signed_in_at=signed_in_at,
        )
