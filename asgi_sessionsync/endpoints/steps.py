"""The sign-in steps a browser takes through a site: hop, frame, frame check, bounce."""

from __future__ import annotations

import logging
import secrets

from starlette.types import Scope

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.reply import Headers, Reply, html, page, redirect, text
from asgi_sessionsync.envelope import Claims
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.identity.base import IdentityAdapter
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.pages import frame_result_page
from asgi_sessionsync.protocol import BouncePayload, Endpoint, FrameCheckPayload, FramePayload, HopPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.site import Site
from asgi_sessionsync.urls import endpoint_url, local_url, safe_return

logger = logging.getLogger("asgi_sessionsync.endpoints")

# Authentic envelopes refused for these reasons are skipped: the chain goes on.
SKIPPABLE = frozenset({EnvelopeFailure.EXPIRED, EnvelopeFailure.NOT_YET_VALID, EnvelopeFailure.IP_MISMATCH})


class SignInSteps:
    def __init__(self, site: Site, identity: IdentityAdapter) -> None:
        self.site = site
        self.identity = identity
        self.cookie_name = site.settings.cookie_name
        self.frame_ancestors = ("frame-ancestors " + " ".join(site.tokens.all_members())).encode()

    async def hop(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        try:
            claims = site.tokens.open(token, Purpose.HOP, ip=site.address.bind_value(scope))
        except EnvelopeError as error:
            onward = site.signin.next_url(error.claims) if error.claims and error.reason in SKIPPABLE else None
            if onward:
                logger.info("sign-in hop skipped here (%s); chain continues", error.reason)
                return redirect(onward)
            logger.warning("sign-in hop refused: %s", error.reason)
            return page(
                400,
                "This sign-in link is not valid",
                "It may have been changed or cut short. Signing in on this site was skipped.",
            )
        onward = site.signin.next_url(claims) or local_url(site.origin, "/")
        if not await site.stores.replay.use(claims.jti, claims.expires_at + site.settings.clock_skew):
            logger.info("sign-in hop skipped here (already used); chain continues")
            return redirect(onward)
        hop = HopPayload.from_wire(claims.extra)
        _, cookies_set = await self._sign_in_here(scope, cookies, claims, hop.chain, hop.name, "hop")
        return redirect(onward, cookies_set)

    async def frame(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        try:
            claims = site.tokens.open(token, Purpose.FRAME, ip=site.address.bind_value(scope))
        except EnvelopeError as error:
            logger.warning("frame sign-in refused: %s", error.reason)
            if error.claims is not None:
                return self._frame_result(False, error.claims.issuer)
            return text(400, "invalid sign-in frame", [(b"content-security-policy", self.frame_ancestors)])
        if not await site.stores.replay.use(claims.jti, claims.expires_at + site.settings.clock_skew):
            return self._frame_result(False, claims.issuer)
        frame = FramePayload.from_wire(claims.extra)
        session, headers = await self._sign_in_here(scope, cookies, claims, frame.chain, frame.name, "frame")
        if session is None:
            return self._frame_result(False, claims.issuer)
        check = site.tokens.seal_for_self(
            Purpose.STATE,
            subject=session.user,
            ttl=site.settings.hop_lifetime,
            ip=site.address.bind_value(scope),
            extra=FrameCheckPayload(session.sid, claims.issuer).to_wire(),
        )
        location = endpoint_url(site.origin, site.prefix, Endpoint.FRAMECHECK, f"e={check}")
        return redirect(location, [*headers, (b"content-security-policy", self.frame_ancestors)])

    async def frame_check(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        try:
            claims = site.tokens.open(token, Purpose.STATE, ip=site.address.bind_value(scope))
        except EnvelopeError as error:
            logger.warning("frame check refused: %s", error.reason)
            return text(400, "invalid frame check", [(b"content-security-policy", self.frame_ancestors)])
        check = FrameCheckPayload.from_wire(claims.extra)
        current = await self._current(scope, cookies)
        stuck = current is not None and current.sid == check.sid
        if not stuck:
            # The browser refused the cookie (third-party cookies blocked): this session
            # can never be used, so end it rather than leave it looking active.
            await site.sessions.end(check.sid, "cookie refused in frame")
        return self._frame_result(stuck, check.parent)

    def _frame_result(self, ok: bool, parent: str) -> Reply:
        nonce = secrets.token_urlsafe(16)
        policy = f"{self.frame_ancestors.decode()}; script-src 'nonce-{nonce}'; default-src 'none'"
        body = frame_result_page(ok=ok, peer_origin=self.site.origin, parent_origin=parent, nonce=nonce)
        return html(200, body, [(b"content-security-policy", policy.encode())])

    async def bounce(self, scope: Scope, cookies: bytes | None, token: str, peers: str) -> Reply:
        site = self.site
        ip = site.address.bind_value(scope)
        try:
            claims = site.tokens.open(token, Purpose.STATE, ip=ip)
        except EnvelopeError as error:
            logger.warning("bounce refused: %s", error.reason)
            return page(400, "This link is not valid", "Signing in on the other sites was skipped.")
        state = BouncePayload.from_wire(claims.extra)
        back = safe_return(state.return_url, site.origin) or local_url(site.origin, "/")
        current = await self._current(scope, cookies)
        if current is None or current.sid != state.sid:
            return redirect(back)
        wanted = [o for o in peers.split() if o]
        chain = site.signin.hop_chain(
            await site.signin.reachable_peers(wanted), session=current, return_url=back, ip=ip
        )
        return redirect(chain or back)

    async def _current(self, scope: Scope, cookies: bytes | None) -> ActiveSession | None:
        token = find_cookie(cookies, self.cookie_name)
        if token is None:
            return None
        return await self.site.sessions.resolve(token, self.site.address.bind_value(scope))

    async def _sign_in_here(
        self, scope: Scope, cookies: bytes | None, claims: Claims, chain: str, name: str, step: str
    ) -> tuple[ActiveSession | None, Headers]:
        """Make the user a peer vouches for signed in here; return the session and its cookies."""
        site = self.site
        issuer = claims.issuer
        via = f"{step} from {issuer}"
        user = await site.sessions.ensure_user(claims.subject, name=name, vouched_by=issuer)
        if user is None:
            logger.info("sign-in from %s skipped: the user is unknown here and auto-provisioning is off", issuer)
            return None, []
        current = await self._current(scope, cookies)
        if current is not None:
            if current.user == user.email and current.chain == chain:
                return current, []
            await site.sessions.end(current.sid, f"replaced by sign-in {via}")
        session, token = await site.sessions.start(user, chain=chain or None, scope=scope, via=via)
        cookie = site.cookies.set(self.cookie_name, token, int(site.settings.session_lifetime))
        app_login = await self.identity.login_cookies(user)
        return session, [(b"set-cookie", cookie), *((b"set-cookie", c) for c in app_login)]
