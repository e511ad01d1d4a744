"""``SessionSyncMiddleware``: shared login and logout across sites, for any ASGI app.

Pure ASGI. Per request it reads the session cookie (only when the request carries
one), shows the session to the app, and watches who is signed in before and after
the app runs. A change is a sign-in or a sign-out: sign-in starts the sync to every
peer (a redirect chain, or frames injected into the HTML answer); sign-out ends this
browser's sessions here and, through the back-channel, on every peer.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin

import httpx

from asgi_sessionsync.cookies import cookie_header, find_cookie
from asgi_sessionsync.endpoints import Endpoints
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.identity import IdentityAdapter, identity_from_settings
from asgi_sessionsync.injection import HTMLInjector, csp_nonce, is_injectable
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.pages import bounce_snippet, frames_snippet
from asgi_sessionsync.service import ActiveSession, SyncService
from asgi_sessionsync.settings import Settings, SyncMode
from asgi_sessionsync.stores import Stores

logger = logging.getLogger("asgi_sessionsync")

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Any
PENDING_LIFETIME = 300  # seconds a sign-in waits for a page it can start the sync from


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
        env_file: str | None = ".env",
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings.from_env(env_file=env_file, **overrides)
        elif overrides:
            raise TypeError("pass settings=... or keyword settings, not both")
        self.app = app
        self.settings = settings
        self.service = SyncService(settings, stores=stores, transport=transport)
        self.identity = identity or identity_from_settings(settings, self.service.cookies)
        self.endpoints = Endpoints(self.service, self.identity)
        self.prefix = settings.path_prefix
        self.cookie_name = settings.cookie_name
        self.pending_name = settings.cookie_name + "-sync"
        self._needle = settings.cookie_name.encode("latin-1")
        self._pending_needle = self.pending_name.encode("latin-1")
        self._cookie_key = self._needle + b"="
        self._started = False
        # What an anonymous request shows the app, computed once.
        probe: Scope = {"headers": []}
        self.identity.expose(probe, None)
        self._anonymous = {k: v for k, v in probe.items() if k != "headers"}
        # An adapter whose sign-in is only ever an explicit call marks the scope with
        # this key: without it, nothing can have changed.
        self._intent_key: str | None = getattr(self.identity, "intent_key", None)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            cookies: bytes | None = None
            for key, value in scope["headers"]:
                if key == b"cookie":
                    cookies = value if cookies is None else cookies + b"; " + value
            if cookies is not None or not self._started or self.prefix in scope["path"]:
                await self._http(scope, receive, send, cookies)
                return
            # Hot path: no cookie at all, so nobody is signed in; only a sign-in made
            # by the app during this request needs the middleware.
            scope.update(self._anonymous)
            forward = send

            async def watch_anonymous(message: Message) -> None:
                nonlocal forward
                if message["type"] == "http.response.start" and (self._intent_key is None or self._intent_key in scope):
                    after, name = await self.identity.signed_in_after(scope, None, message.get("headers", []))
                    if after is not None:
                        cycle = _ResponseCycle(self, scope, send, None, False, [], None)
                        forward = await cycle.changed(message, None, after, name)
                        return
                await forward(message)

            await self.app(scope, receive, watch_anonymous)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Stop the outbox worker and close the stores (also done at lifespan shutdown)."""
        await self.service.close()
        self._started = False

    def _start(self) -> None:
        self.service.sender.start()
        self._started = True

    # -- http ----------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Any, send: Any, cookies: bytes | None) -> None:
        if not self._started:
            self._start()
        path: str = scope["path"]
        if self.prefix in path:
            root: str = scope.get("root_path", "")
            local = path[len(root) :] if root and path.startswith(root) else path
            if local.startswith(self.prefix):
                await self.endpoints(scope, receive, send, local[len(self.prefix) :], cookies)
                return

        session: ActiveSession | None = None
        stale = False
        pending: str | None = None
        forgotten: list[bytes] = []
        adopted: str | None = None
        if cookies is None or (not self.identity.separate_login and self._needle not in cookies):
            self.identity.expose(scope, None)  # anonymous (maybe with other cookies): no work
        else:
            session, stale, pending, forgotten, adopted = await self._identify(scope, cookies)
            if (
                pending is not None
                and session is not None
                and self.settings.sync_mode is SyncMode.BOUNCE
                and _is_navigation(scope)
                and await self._bounce_now(scope, send, session, pending)
            ):
                return

        identity = self.identity
        before = session.user if session is not None else None
        # What the app believed when the request came in: an unchanged answer means that.
        believed = adopted if adopted is not None else before
        intent_key = self._intent_key
        quiet = not (stale or forgotten or pending is not None or adopted is not None)
        forward: Any = None

        async def watch(message: Message) -> None:
            nonlocal forward
            if forward is not None:
                await forward(message)
                return
            if message["type"] != "http.response.start":
                await send(message)
                return
            if intent_key is not None and intent_key not in scope:
                after, name = believed, ""  # no sign_in()/sign_out() call: nothing changed
            else:
                after, name = await identity.signed_in_after(scope, believed, message.get("headers", []))
            if quiet and after == before:
                forward = send  # nothing happened: the common case
                await send(message)
                return
            cycle = _ResponseCycle(self, scope, send, session, stale, forgotten, pending, adopted)
            forward = await cycle.changed(message, before, after, name)

        await self.app(scope, receive, watch)

    async def _identify(
        self, scope: Scope, cookies: bytes | None
    ) -> tuple[ActiveSession | None, bool, str | None, list[bytes], str | None]:
        """Resolve the session cookie, reconcile it with the app's own login, and show
        the result to the app.

        Returns (session, stale, pending, forgotten, adopted): ``stale`` when a cookie
        named a session that is no longer valid; ``pending`` the pending-sync cookie;
        ``forgotten`` Set-Cookie values removing an app login that must not stand; and
        ``adopted`` the user of an app login made without the middleware seeing it.
        """
        session: ActiveSession | None = None
        stale = False
        pending: str | None = None
        forgotten: list[bytes] = []
        adopted: str | None = None
        if cookies is not None and self._needle in cookies:
            token = find_cookie(cookies, self._cookie_key)
            if token:
                session = await self.service.resolve_session(token, self.service.ip_binding(scope))
                stale = session is None
            if self._pending_needle in cookies:
                pending = find_cookie(cookies, self.pending_name)
        if self.identity.separate_login and cookies is not None:
            app_user = await self.identity.app_user(scope, cookies)
            if app_user is not None and (stale or (session is not None and session.user != app_user)):
                # The registry ended this login (signed out elsewhere), or the two disagree:
                # the app must not see it; the registry is the authority.
                forgotten = self.identity.forget(scope)
                if session is not None:
                    await self.service.end_session(session.sid, "app login disagreed with the session")
                    session, stale = None, True
            elif app_user is not None and session is None:
                adopted = app_user
            elif app_user is None and session is not None:
                # The app's own login ended (expired, cleared by the app): end ours here
                # too, quietly; that is not a sign-out to tell the peers about.
                await self.service.end_session(session.sid, "app login ended")
                session, stale = None, True
        self.identity.expose(scope, session)
        return session, stale, pending, forgotten, adopted

    async def _bounce_now(self, scope: Scope, send: Any, session: ActiveSession, pending: str) -> bool:
        """A sign-in earlier could not start the chain; start it from this navigation."""
        service = self.service
        ip = service.ip_binding(scope)
        headers = [(b"set-cookie", service.cookies.delete(self.pending_name))]
        try:
            claims = service.open(pending, Purpose.STATE, ip=ip)
        except EnvelopeError:
            claims = None
        target = None
        if claims is not None and claims.extra.get("s") == session.sid:
            peers = await service.reachable_peers()
            target = service.hop_chain(peers, session=session, return_url=_request_url(service, scope), ip=ip)
        if target is None:
            return False
        headers += [(b"location", target.encode("latin-1")), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    # -- websocket and lifespan ------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        cookies = cookie_header(scope["headers"])
        if cookies is None:
            self.identity.expose(scope, None)
        else:
            await self._identify(scope, cookies)
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        async def watched_receive() -> Message:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
            elif message["type"] == "lifespan.shutdown":
                await self.service.sender.stop()
                self._started = False
            return message

        await self.app(scope, watched_receive, send)


class _ResponseCycle:
    """The work done when a response shows a change of identity (rare)."""

    __slots__ = ("adopted", "forgotten", "mw", "pending", "raw_send", "scope", "session", "stale")

    def __init__(
        self,
        mw: SessionSyncMiddleware,
        scope: Scope,
        send: Any,
        session: ActiveSession | None,
        stale: bool,
        forgotten: list[bytes],
        pending: str | None,
        adopted: str | None = None,
    ) -> None:
        self.adopted = adopted
        self.mw = mw
        self.scope = scope
        self.raw_send = send
        self.session = session
        self.stale = stale
        self.forgotten = forgotten
        self.pending = pending

    async def changed(self, message: Message, before: str | None, after: str | None, name: str) -> Any:
        """Handle a sign-in or sign-out seen at the response start; send the start
        (or hand it to an injector) and return the ``send`` for the rest of the body."""
        mw, service, scope = self.mw, self.mw.service, self.scope
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        cookies = [(b"set-cookie", c) for c in self.forgotten]
        snippet: bytes | None = None
        clear_pending = self.pending is not None

        if self.session is not None and after != before:
            await service.sign_out(self.session)
            cookies.append((b"set-cookie", service.cookies.delete(mw.cookie_name)))
        elif self.stale and after is None:
            cookies.append((b"set-cookie", service.cookies.delete(mw.cookie_name)))

        if after is not None and after != before:
            user = await service.ensure_user(after, name=name)
            assert user is not None  # the app itself vouches: always provisioned
            adopting = after == self.adopted
            via = "adopted from the app's own login" if adopting else "login"
            session, token = await service.start_session(user, chain=None, scope=scope, via=via)
            cookie = service.cookies.set(mw.cookie_name, token, int(service.settings.session_lifetime))
            cookies.append((b"set-cookie", cookie))
            # An app login the middleware did not see being made (from before it was
            # installed, or a stolen app cookie) is recorded here but never synced: one
            # site's cookie must not become a login everywhere.
            if not adopting:
                headers, snippet, wait = await self._start_sync(message, headers, session)
                if wait:
                    cookies.append((b"set-cookie", self._pending_cookie(session)))
                    clear_pending = False
        elif self.pending is not None and self.session is not None and after == before:
            # A sign-in earlier could not start frames; this HTML page can.
            if is_injectable(headers) and scope["method"] != "HEAD":
                snippet = await self._frames(self.session, headers)
            else:
                clear_pending = False

        if clear_pending:
            cookies.append((b"set-cookie", service.cookies.delete(mw.pending_name)))
        start = {**message, "headers": headers + cookies}
        if snippet is None:
            await self.raw_send(start)
            return self.raw_send
        return HTMLInjector(self.raw_send, start, snippet)

    async def _start_sync(
        self, message: Message, headers: list[tuple[bytes, bytes]], session: ActiveSession
    ) -> tuple[list[tuple[bytes, bytes]], bytes | None, bool]:
        """Start the sign-in sync from this response: (headers, snippet, must wait)."""
        service, scope = self.mw.service, self.scope
        if not service.peer_list:
            return headers, None, False
        mode = service.settings.sync_mode
        status = int(message["status"])
        location = next((v for k, v in headers if k.lower() == b"location"), None)
        if mode is SyncMode.BOUNCE and 300 <= status < 400 and location is not None:
            back = service.safe_return(
                urljoin(_request_url(service, scope), location.decode("latin-1")), service.origin
            )
            if back is not None:
                peers = await service.reachable_peers()
                first = service.hop_chain(peers, session=session, return_url=back, ip=service.ip_binding(scope))
                if first is None:
                    return headers, None, False
                headers = [(k, v) for k, v in headers if k.lower() != b"location"]
                headers.append((b"location", first.encode("latin-1")))
                return headers, None, False
        elif is_injectable(headers) and scope["method"] != "HEAD" and not (300 <= status < 400):
            if mode is SyncMode.BOUNCE:
                peers = await service.reachable_peers()
                first = service.hop_chain(
                    peers, session=session, return_url=self._return_here(), ip=service.ip_binding(scope)
                )
                return headers, (bounce_snippet(first) if first else None), False
            return headers, await self._frames(session, headers), False
        return headers, None, True

    async def _frames(self, session: ActiveSession, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        service, scope = self.mw.service, self.scope
        peers = await service.reachable_peers()
        if not peers:
            return None
        ip = service.ip_binding(scope)
        urls = [service.frame_url(network, peer, session=session, ip=ip) for network, peer in peers]
        bounce_url = None
        if service.settings.sync_mode is SyncMode.AUTO:
            state = service.seal_for_self(
                Purpose.STATE, subject=session.user, ttl=60, ip=ip, extra={"s": session.sid, "r": self._return_here()}
            )
            bounce_url = f"{service.origin}{service.prefix}bounce?t={state}"
        return frames_snippet(
            urls, peer_origins=[p.origin for _, p in peers], nonce=csp_nonce(headers), bounce_url=bounce_url
        )

    def _pending_cookie(self, session: ActiveSession) -> bytes:
        service = self.mw.service
        token = service.seal_for_self(
            Purpose.STATE,
            subject=session.user,
            ttl=PENDING_LIFETIME,
            ip=service.ip_binding(self.scope),
            extra={"s": session.sid},
        )
        return service.cookies.set(self.mw.pending_name, token, PENDING_LIFETIME)

    def _return_here(self) -> str:
        """Where the chain brings the user back to after a sign-in that answered with HTML."""
        service, scope = self.mw.service, self.scope
        if scope["method"] == "GET":
            return _request_url(service, scope)
        referer = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"referer"), None)
        return service.safe_return(referer, service.origin) or service.local_url(scope.get("root_path", "") + "/")


def _request_url(service: SyncService, scope: Scope) -> str:
    path = scope.get("path", "/")
    root = scope.get("root_path", "")
    if root and not path.startswith(root):
        path = root + path
    query = scope.get("query_string", b"")
    return service.local_url(path + ("?" + query.decode("latin-1") if query else ""))


def _is_navigation(scope: Scope) -> bool:
    if scope["method"] != "GET":
        return False
    mode = dest = accept = None
    for key, value in scope["headers"]:
        if key == b"sec-fetch-mode":
            mode = value
        elif key == b"sec-fetch-dest":
            dest = value
        elif key == b"accept":
            accept = value
    if mode is not None:
        return mode == b"navigate" and dest in (None, b"document")
    return accept is not None and b"text/html" in accept
