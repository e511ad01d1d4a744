"""What happens when a response shows a change of identity (rare): a sign-in, a sign-out.

A sign-out ends this browser's sessions here and tells the peers; a sign-in starts a
session and the sync to the peers from this very response (a redirect becomes the
first step of the chain, an HTML page gets the snippet), or, when the response cannot
carry it, from the next navigation (the pending cookie).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from starlette.types import Message, Scope, Send

from asgi_sessionsync.endpoints.reply import HTML, Reply, redirect
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.governance.governor import Refusal
from asgi_sessionsync.governance.policy import OnLimit
from asgi_sessionsync.identity.base import reported_verified
from asgi_sessionsync.identity.session import intended_role, sign_out_everywhere_asked
from asgi_sessionsync.injection import HTMLInjector, csp_nonce, is_injectable
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.pages import bounce_snippet, frames_snippet, refused_page
from asgi_sessionsync.protocol import BouncePayload, Endpoint, PendingPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import SyncMode
from asgi_sessionsync.urls import endpoint_url, header, local_url, request_url, safe_return

if TYPE_CHECKING:
    from asgi_sessionsync.middleware import SessionSyncMiddleware

logger = logging.getLogger("asgi_sessionsync")

PENDING_LIFETIME = 300  # seconds a sign-in waits for a page it can start the sync from
Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class RequestState:
    """Who the request came in as, and what reconciling it with the app found."""

    session: ActiveSession | None = None
    stale: bool = False  # a cookie named a session that is no longer valid
    pending: str | None = None  # the pending-sync cookie
    forgotten: list[bytes] = field(default_factory=list)  # Set-Cookie values removing an app login
    adopted: str | None = None  # the user of an app login made without the middleware seeing it
    cookies: bytes | None = field(default=None, repr=False)  # the request's Cookie header
    # The app did not see its own login only because the request came from another site
    # (its cookie's SameSite kept it home): an app that answers "nobody" did not sign out.
    app_blind: bool = False

    @property
    def quiet(self) -> bool:
        return not (self.stale or self.forgotten or self.pending is not None or self.adopted is not None)


class IdentityChange:
    """Handles one response whose identity changed, or that has pending work."""

    __slots__ = ("mw", "raw_send", "scope", "state")

    def __init__(self, mw: SessionSyncMiddleware, scope: Scope, send: Send, state: RequestState) -> None:
        self.mw = mw
        self.scope = scope
        self.raw_send = send
        self.state = state

    async def changed(
        self, message: Message, before: str | None, after: str | None, name: str, *, renewed: bool = False
    ) -> Send:
        """Handle a sign-in or sign-out seen at the response start; send the start
        (or hand it to an injector) and return the ``send`` for the rest of the body."""
        mw, site, scope, state = self.mw, self.mw.site, self.scope, self.state
        headers: Headers = list(message.get("headers", ()))
        cookies = [(b"set-cookie", c) for c in state.forgotten]
        snippet: bytes | None = None
        fallback: Headers = []
        clear_pending = state.pending is not None

        if state.session is not None and renewed:
            # The same user signed in again: a new session id (and chain), never the old one.
            await site.sessions.end(state.session.sid, "signed in again")
        elif state.session is not None and after != before:
            if site.settings.sign_out_everywhere or sign_out_everywhere_asked(scope):
                # Every session of the user, every browser, here and on every peer (the
                # app logins that went with them here too).
                await site.sign_out_everywhere(state.session.user, reason="signed out everywhere")
            else:
                ended_app_logins = await site.sessions.app_refs(state.session.user, chain=state.session.chain)
                await site.sign_out(state.session.user, state.session.chain)
                await site.sessions.end_app_logins(ended_app_logins)
            cookies.append((b"set-cookie", site.cookies.delete(mw.cookie_name)))
        elif state.stale and after is None:
            cookies.append((b"set-cookie", site.cookies.delete(mw.cookie_name)))

        if after is not None and (after != before or renewed):
            user = stored = await site.sessions.ensure_user(after, name=name)
            assert user is not None  # the app itself vouches: always provisioned
            role = intended_role(scope)
            if role is not None and role != user.role:
                user = dataclasses.replace(user, role=role)  # this session's role, given by the app
            adopting = after == state.adopted
            cross_site = not adopting and fetch_metadata(scope).is_cross_site(site.origin)
            if cross_site:
                # Login CSRF on one site must not become a login everywhere.
                site_log(logger.name, site.origin).warning(
                    "sign-in of %s came from another site's page: kept on this site", after
                )
            via = "adopted from the app's own login" if adopting else "cross-site login" if cross_site else "login"
            local = adopting or cross_site
            app_login, app_ref = mw.app_login, None
            if app_login is not None:  # the app's own login that goes with the new session
                app_ref = app_login.response_app_ref(headers) or app_login.app_ref(state.cookies)
            admission = await site.governor.admit(user, scope=scope, via=via)
            if admission.refusal is not None:
                return await self._refuse(admission.refusal, cookies, app_ref)
            # Vouched for as verified when the app says so (remembered, so that a peer's
            # sign-in of the address needs no code here), or this site verified it by code.
            verified = await site.marks.remembered(user.email)
            if not verified and await reported_verified(mw.identity, scope, user.email):
                verified = True
                await site.marks.remember(user.email)
            session, token = await site.sessions.start(
                user,
                chain=None,
                scope=scope,
                via=via,
                shared=not local,
                app_ref=app_ref,
                country=admission.country,
                device=admission.device,
                email_verified=verified,
            )
            cookie = site.cookies.set(mw.cookie_name, token, int(site.settings.session_lifetime))
            cookies.append((b"set-cookie", cookie))
            # An app login the middleware did not see being made (from before it was
            # installed, or a stolen app cookie) is recorded here but never synced: one
            # site's cookie must not become a login everywhere.
            if not local:
                # A user of this site's own never sent to the peers: they get it (with
                # its password where their rules take it) once, at its first sign-in.
                if stored is not None:
                    await site.users.announce(stored)
                headers, snippet, wait = await self._start_sync(message, headers, session)
                if wait:
                    pending = (b"set-cookie", self._pending_cookie(session))
                    # With a snippet, the pending cookie is plan B: dropped when the
                    # snippet is in the body (an HTML fragment may have no </body>).
                    (fallback if snippet is not None else cookies).append(pending)
                    clear_pending = False
        elif state.pending is not None and state.session is not None and after == before:
            # A sign-in earlier could not start frames; this HTML page can.
            if is_injectable(headers) and scope["method"] != "HEAD":
                snippet = await self._frames(state.session, headers)
            else:
                clear_pending = False

        if clear_pending:
            cookies.append((b"set-cookie", site.cookies.delete(mw.pending_name)))
        start = {**message, "headers": headers + cookies}
        if snippet is None:
            await self.raw_send(start)
            return self.raw_send
        return HTMLInjector(self.raw_send, start, snippet, fallback)

    async def _refuse(self, refusal: Refusal, cookies: Headers, app_ref: str | None) -> Send:
        """The session policy refused this sign-in: the response becomes the block page
        (or a redirect to the site's page for it) and the app's login is undone: none of
        the app's headers or body go out, its login cookie is cleared, no session, and the
        login the app made on its side (``app_ref``: Django's saved session) is ended
        there too, unless a live session of the registry holds that reference."""
        site, scope = self.mw.site, self.scope
        if app_ref is not None:
            holder = await site.stores.sessions.find_by_app_ref(app_ref)
            if holder is None or not holder.live(time.time()):
                await site.sessions.end_app_logins([app_ref])
        gone = site.cookies.delete(self.mw.cookie_name)  # whatever session cookie this browser had
        app_login = self.mw.app_login
        undone = app_login.logout_cookies() if app_login is not None else []
        headers = [*(c for c in cookies if c[1] != gone), (b"set-cookie", gone), *((b"set-cookie", c) for c in undone)]
        if refusal.action is OnLimit.REDIRECT and refusal.redirect_to is not None:
            target = local_url(site.origin, scope.get("root_path", "") + refusal.redirect_to)
            reply = redirect(target, headers)
        else:
            reply = Reply(403, refused_page(refusal.message), HTML, headers)
        await reply.send(self.raw_send)

        async def discard(message: Message) -> None:
            return None  # the app's own answer: never sent

        return discard

    async def _start_sync(
        self, message: Message, headers: Headers, session: ActiveSession
    ) -> tuple[Headers, bytes | None, bool]:
        """Start the sign-in sync from this response: (headers, snippet, set the pending
        cookie so that the next navigation starts it if this response cannot)."""
        site, scope = self.mw.site, self.scope
        if not site.peers:
            return headers, None, False
        meta = fetch_metadata(scope)
        if meta.sent and meta.mode != b"navigate":
            return headers, None, True  # fetch(), XHR: the next top-level navigation starts it
        mode = site.settings.sync_mode
        status = int(message["status"])
        ip = site.address.bind_value(scope)
        location = next((v for k, v in headers if k.lower() == b"location"), None)
        if 300 <= status < 400:
            back = None
            if location is not None:
                back = safe_return(urljoin(request_url(site.origin, scope), location.decode("latin-1")), site.origin)
            if mode is SyncMode.BOUNCE and back is not None:
                first = await site.signin.start_chain(session, return_url=back, ip=ip)
                if first is not None:
                    headers = [(k, v) for k, v in headers if k.lower() != b"location"]
                    headers.append((b"location", first.encode("latin-1")))
                return headers, None, False
            return headers, None, True
        if is_injectable(headers) and scope["method"] != "HEAD":
            if mode is SyncMode.BOUNCE:
                first = await site.signin.start_chain(session, return_url=self._return_here(), ip=ip)
                return headers, (bounce_snippet(first) if first else None), first is not None
            frames = await self._frames(session, headers)
            return headers, frames, frames is not None
        return headers, None, True

    async def _frames(self, session: ActiveSession, headers: Headers) -> bytes | None:
        site, scope = self.mw.site, self.scope
        peers = await site.signin.reachable_peers()
        if not peers:
            return None
        ip = site.address.bind_value(scope)
        urls = site.signin.frame_urls(peers, session, ip=ip)
        bounce_url = None
        if site.settings.sync_mode is SyncMode.AUTO:
            state = site.tokens.seal_for_self(
                Purpose.BOUNCE,
                subject=session.user,
                ttl=60,
                ip=ip,
                extra=BouncePayload(session.sid, self._return_here()).to_wire(),
            )
            bounce_url = endpoint_url(site.origin, site.prefix, Endpoint.BOUNCE, f"t={state}")
        return frames_snippet(
            urls, peer_origins=[p.origin for _, p in peers], nonce=csp_nonce(headers), bounce_url=bounce_url
        )

    def _pending_cookie(self, session: ActiveSession) -> bytes:
        site = self.mw.site
        token = site.tokens.seal_for_self(
            Purpose.PENDING,
            subject=session.user,
            ttl=PENDING_LIFETIME,
            ip=site.address.bind_value(self.scope),
            extra=PendingPayload(session.sid).to_wire(),
        )
        return site.cookies.set(self.mw.pending_name, token, PENDING_LIFETIME)

    def _return_here(self) -> str:
        """Where the chain brings the user back to after a sign-in that answered with HTML."""
        site, scope = self.mw.site, self.scope
        if scope["method"] == "GET":
            return request_url(site.origin, scope)
        referer = header(scope, b"referer") or None
        return safe_return(referer, site.origin) or local_url(site.origin, scope.get("root_path", "") + "/")
