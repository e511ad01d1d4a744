"""``SessionSyncMiddleware``: shared login and logout across sites, for any ASGI app.

Pure ASGI. Per request it reads the session cookie (only when the request carries
one), shows the session to the app, and watches who is signed in before and after
the app runs. A change is a sign-in or a sign-out: sign-in starts the sync to every
peer (a redirect chain, or frames injected into the HTML answer); sign-out ends this
browser's sessions here and, through the back-channel, on every peer.
"""

from __future__ import annotations

import logging
from typing import Unpack

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.catchup import CatchUp
from asgi_sessionsync.cookies import cookie_header, find_cookie
from asgi_sessionsync.endpoints import Endpoints
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.identity import AppLoginAdapter, IdentityAdapter, app_login_of, identity_from_settings
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.lifecycle import Worker
from asgi_sessionsync.mail import Mailer
from asgi_sessionsync.protocol import PendingPayload
from asgi_sessionsync.response import IdentityChange, RequestState
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import MiddlewareOptions, Settings, SyncMode
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import Stores
from asgi_sessionsync.urls import request_url
from asgi_sessionsync.users import SITE_KEY
from asgi_sessionsync.validation import email_or_none

logger = logging.getLogger("asgi_sessionsync")


class SessionSyncMiddleware:
    """Wrap an ASGI app: ``SessionSyncMiddleware(app)`` reads settings from the
    environment; any setting can be passed as a keyword (code wins)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        identity: IdentityAdapter | None = None,
        stores: Stores | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        mailer: Mailer | None = None,
        env_file: str | None = ".env",
        **overrides: Unpack[MiddlewareOptions],
    ) -> None:
        if settings is None:
            settings = Settings.from_env(env_file=env_file, **overrides)
        elif overrides:
            raise TypeError("pass settings=... or keyword settings, not both")
        self.app = app
        self.settings = settings
        self.site = Site(settings, stores=stores, transport=transport, mailer=mailer)
        self.identity = identity or identity_from_settings(settings, self.site.cookies)
        # Decided once: does the app keep a login of its own to reconcile with ours?
        self.app_login = app_login_of(self.identity)
        if self.app_login is not None:
            # Ending a session here ends the app's own login that goes with it.
            self.site.sessions.end_app_login = self.app_login.end_app_login
        attach = getattr(self.identity, "attach_site", None)
        if callable(attach):
            attach(self.site)  # an adapter whose app owns its users (Django): user sync
        self.endpoints = Endpoints(self.site, self.identity)
        self.worker = Worker(self.site)
        self.catchup = CatchUp(self.site)
        # Frame mode needs SameSite=None session cookies; Lax is then emulated here.
        self._emulate_lax = self.site.cookies.samesite == "none"
        self.prefix = settings.path_prefix
        self.cookie_name = settings.cookie_name
        self.pending_name = settings.cookie_name + "-sync"
        self._needle = settings.cookie_name.encode("latin-1")
        self._pending_needle = self.pending_name.encode("latin-1")
        self._cookie_key = self._needle + b"="
        # A peer's sign-in held for a code (REQUIRE_VERIFIED_EMAIL=self): the next page
        # this browser opens here shows the code page first.
        self._held_needle = self.endpoints.codes.holds.needle
        # What an anonymous request shows the app, computed once.
        probe: Scope = {"headers": []}
        self.identity.expose(probe, None)
        self._anonymous = {k: v for k, v in probe.items() if k != "headers"}
        # An adapter whose sign-in is only ever an explicit call marks the scope with
        # this key: without it, nothing can have changed.
        self._intent_key: str | None = self.identity.intent_key
        self._said_not_an_email = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            scope[SITE_KEY] = self.site  # for asgi_sessionsync.users
            cookies: bytes | None = None
            navigate = False
            for key, value in scope["headers"]:
                if key == b"cookie":
                    cookies = value if cookies is None else cookies + b"; " + value
                elif key == b"sec-fetch-mode":
                    navigate = value == b"navigate"
            if cookies is not None or not self.worker.started or self.prefix in scope["path"]:
                await self._http(scope, receive, send, cookies)
                return
            if navigate and self.catchup.wanted(scope, None) and await self.catchup.start(scope, send, None):
                return
            # Hot path: no cookie at all, so nobody is signed in; only a sign-in made
            # by the app during this request needs the middleware.
            scope.update(self._anonymous)
            forward = send

            async def watch_anonymous(message: Message) -> None:
                nonlocal forward
                if message["type"] == "http.response.start" and (self._intent_key is None or self._intent_key in scope):
                    after, name = await self.identity.signed_in_after(scope, None, message.get("headers", []))
                    after = self._email(after)
                    if after is not None:
                        forward = await IdentityChange(self, scope, send, RequestState()).changed(
                            message, None, after, name
                        )
                        return
                await forward(message)

            await self.app(scope, receive, watch_anonymous)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self.worker.lifespan(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Stop the outbox worker and close the stores and the HTTP client (also done at
        lifespan shutdown)."""
        await self.worker.aclose()

    async def _http(self, scope: Scope, receive: Receive, send: Send, cookies: bytes | None) -> None:
        await self.worker.ensure_started()
        path: str = scope["path"]
        if self.prefix in path:
            root: str = scope.get("root_path", "")
            local = path[len(root) :] if root and path.startswith(root) else path
            if local.startswith(self.prefix):
                await self.endpoints(scope, receive, send, local[len(self.prefix) :], cookies)
                return

        if (
            cookies is not None
            and self._held_needle in cookies
            and fetch_metadata(scope).is_navigation(scope["method"])
            and await self._show_code_page(scope, send, cookies)
        ):
            return
        if self._emulate_lax and cookies is not None and not fetch_metadata(scope).is_lax_visible(scope["method"]):
            # A cross-site subresource or POST: a Lax cookie would not have come, so
            # neither the session nor the app's login is seen, and nothing is reconciled.
            cookies = None
        if cookies is None or (self.app_login is None and self._needle not in cookies):
            state = RequestState()
            self.identity.expose(scope, None)  # anonymous (maybe with other cookies): no work
        else:
            state = await self._identify(scope, cookies)
        if (
            state.session is None
            and state.adopted is None
            and self.catchup.wanted(scope, cookies)
            and await self.catchup.start(scope, send, cookies)
        ):
            return
        if state.session is not None and (
            state.pending is not None
            and self.settings.sync_mode is SyncMode.BOUNCE
            and fetch_metadata(scope).is_navigation(scope["method"])
            and await self._bounce_now(scope, send, state.session, state.pending)
        ):
            return

        identity = self.identity
        before = state.session.user if state.session is not None else None
        # What the app believed when the request came in: an unchanged answer means that.
        believed = state.adopted if state.adopted is not None else before
        intent_key = self._intent_key
        quiet = state.quiet
        forward: Send | None = None

        async def watch(message: Message) -> None:
            nonlocal forward
            if forward is not None:
                await forward(message)
                return
            if message["type"] != "http.response.start":
                await send(message)
                return
            renewed = False
            if intent_key is not None and intent_key not in scope:
                after, name = believed, ""  # no sign_in()/sign_out() call: nothing changed
            else:
                after, name = await identity.signed_in_after(scope, believed, message.get("headers", []))
                if after is None and state.app_blind:
                    after = before
                if after != believed:
                    after = self._email(after)
                renewed = after is not None and after == before and identity.signed_in_again(scope)
            if quiet and after == before and not renewed:
                forward = send  # nothing happened: the common case
                await send(_vary_cookie(message) if before is not None else message)
                return
            change = IdentityChange(self, scope, send, state)
            forward = await change.changed(message, before, after, name, renewed=renewed)

        await self.app(scope, receive, watch)

    async def _identify(self, scope: Scope, cookies: bytes | None) -> RequestState:
        """Resolve the session cookie, reconcile it with the app's own login, and show
        the result to the app."""
        state = RequestState(cookies=cookies)
        sessions = self.site.sessions
        if cookies is not None and self._needle in cookies:
            token = find_cookie(cookies, self._cookie_key)
            if token:
                state.session = await sessions.resolve(token, self.site.address.bind_value(scope))
                state.stale = state.session is None
            if self._pending_needle in cookies:
                state.pending = find_cookie(cookies, self.pending_name)
        app_login = self.app_login
        if app_login is not None and cookies is not None:
            app_user = await app_login.app_user(scope, cookies)
            session = state.session
            if app_user is not None and (session is None or app_user != session.user):
                app_user = self._email(app_user)  # (a session's user is an email already)
            if app_user is not None and (state.stale or (session is not None and session.user != app_user)):
                # The registry ended this login (signed out elsewhere), or the two disagree:
                # the app must not see it; the registry is the authority.
                state.forgotten = await self._forget(scope, app_login, cookies)
                if session is not None:
                    await sessions.end(session.sid, "app login disagreed with the session")
                    state.session, state.stale = None, True
            elif app_user is not None and session is None:
                # A cross-site request may carry one of the two cookies and not the other
                # only because their SameSite differ: nothing is concluded from it.
                cross_site = self._cross_site(scope)
                ref = app_login.app_ref(cookies)
                if ref is not None and await sessions.app_login_ended(ref):
                    # It came alone, but went with a session that ended (signed out,
                    # revoked, expired): it is dead, never adopted again. Across sites it
                    # is only hidden: a reference may name the user rather than one login
                    # (docs/identity.md), and ours may have stayed home.
                    if cross_site:
                        app_login.forget(scope)
                    else:
                        state.forgotten = await self._forget(scope, app_login, cookies, ref)
                elif not cross_site:
                    state.adopted = app_user
            elif app_user is None and session is not None and self._cross_site(scope):
                state.app_blind = True
            elif app_user is None and session is not None:
                # The app's own login ended (expired, cleared by the app): end ours here
                # too, quietly; that is not a sign-out to tell the peers about.
                await sessions.end(session.sid, "app login ended")
                state.session, state.stale = None, True
        self.identity.expose(scope, state.session)
        return state

    def _cross_site(self, scope: Scope) -> bool:
        return fetch_metadata(scope).is_cross_site(self.site.origin)

    def _email(self, value: str | None) -> str | None:
        """An email the identity adapter reported, validated: anything else is nobody,
        never a sign-in (said once)."""
        if value is None:
            return None
        email = email_or_none(value)
        if email is None and not self._said_not_an_email:
            self._said_not_an_email = True
            logger.warning(
                "the identity adapter %s reported a user that is not an email address: ignored, never synced "
                "(said once)",
                type(self.identity).__name__,
            )
        return email

    async def _forget(
        self, scope: Scope, app_login: AppLoginAdapter, cookies: bytes, ref: str | None = None
    ) -> list[bytes]:
        """Hide the app login from this request and end it in the app; the ``Set-Cookie``
        values that clear it in the browser."""
        ref = ref if ref is not None else app_login.app_ref(cookies)
        forgotten = app_login.forget(scope)
        if ref is not None:
            await self.site.sessions.end_app_logins([ref])
        return forgotten

    async def _bounce_now(self, scope: Scope, send: Send, session: ActiveSession, pending: str) -> bool:
        """A sign-in earlier could not start the chain; start it from this navigation."""
        site = self.site
        ip = site.address.bind_value(scope)
        headers = [(b"set-cookie", site.cookies.delete(self.pending_name))]
        try:
            claims = site.tokens.open(pending, Purpose.PENDING, ip=ip)
        except EnvelopeError:
            claims = None
        target = None
        if claims is not None and PendingPayload.from_wire(claims.extra).sid == session.sid:
            target = await site.signin.start_chain(session, return_url=request_url(site.origin, scope), ip=ip)
        if target is None:
            return False
        headers += [(b"location", target.encode("latin-1")), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _show_code_page(self, scope: Scope, send: Send, cookies: bytes) -> bool:
        """A held sign-in waits for its code: send this navigation to the code page
        (which comes back here afterwards). False when the cookie holds nothing."""
        codes = self.endpoints.codes
        if codes.holds.open(scope, cookies) is None:
            return False
        target = codes.page_url(request_url(self.site.origin, scope))
        headers = [(b"location", target.encode("latin-1")), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        cookies = cookie_header(scope["headers"])
        if cookies is None:
            self.identity.expose(scope, None)
        else:
            await self._identify(scope, cookies)
        await self.app(scope, receive, send)


def _vary_cookie(message: Message) -> Message:
    """The response start, saying that its content depends on the Cookie header (it was
    made for a signed-in user), as Starlette's and Django's session middlewares do."""
    headers = list(message.get("headers", ()))
    for index, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            if b"cookie" in value.lower() or value.strip() == b"*":
                return message
            headers[index] = (key, value + b", Cookie")
            return {**message, "headers": headers}
    headers.append((b"vary", b"Cookie"))
    return {**message, "headers": headers}
