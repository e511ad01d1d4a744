"""Starting a session: the registry row, its count as a spam session when it is one
(:mod:`asgi_sessionsync.site_counts`), and the cookie's envelope. Nothing else: whether a
session may start, and for whom, is :mod:`asgi_sessionsync.sessions.opening`'s to decide."""

from __future__ import annotations

import time

from starlette.types import Scope

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.protocol import SessionPayload
from asgi_sessionsync.sessions.active import ActiveSession
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site_counts import SpamSessions
from asgi_sessionsync.stores import SessionRecord, Stores, User, new_id
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import header


class SessionStarter:
    """Records a session here and seals its cookie."""

    def __init__(
        self, settings: Settings, stores: Stores, tokens: Tokens, address: ClientAddress, log: SiteLog
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.tokens = tokens
        self.address = address
        self.origin = settings.site_id
        self.log = log
        self.spam = SpamSessions(stores, log)

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
        await self.spam.count(record)
        token = self.tokens.seal_message(
            SessionPayload(
                record.sid, record.chain, user.name, user.role, shared, network, email_verified, signed_in_at
            ),
            subject=user.email,
            ttl=self.settings.session_lifetime,
            ip=self.address.binding.value(host or None),
        )
        self.log.info("session started for %s via %s", user.email, via)
        session = ActiveSession(
            record.sid, user.email, user.name, user.role, record.chain, shared, network, email_verified, signed_in_at
        )
        return session, token
