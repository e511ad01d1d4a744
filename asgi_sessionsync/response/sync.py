"""Starting the sign-in sync from a response: the first step of the chain (a redirect, or
the bounce snippet), the frames snippet, or the pending cookie for the next navigation."""

from __future__ import annotations

from urllib.parse import urljoin

from starlette.types import Message, Scope

from asgi_sessionsync.cookies import cookie_header
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.injection import csp_nonce, is_injectable
from asgi_sessionsync.pages import bounce_snippet, frames_snippet
from asgi_sessionsync.protocol import BouncePayload, Endpoint, PendingPayload
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.response.state import PENDING_LIFETIME, Headers, no_store
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.settings import SyncMode
from asgi_sessionsync.urls import endpoint_url, header, local_url, request_url, safe_return


class SyncStart:
    """Starts the sync of one response's sign-in to the peers."""

    __slots__ = ("context", "scope")

    def __init__(self, context: RequestContext, scope: Scope) -> None:
        self.context = context
        self.scope = scope

    async def start(
        self, message: Message, headers: Headers, session: ActiveSession
    ) -> tuple[Headers, bytes | None, bool]:
        """Start the sign-in sync from this response: (headers, snippet, set the pending
        cookie so that the next navigation starts it if this response cannot)."""
        site, scope = self.context.site, self.scope
        if not site.peers:
            return headers, None, False
        meta = fetch_metadata(scope)
        if meta.sent and meta.mode != b"navigate":
            return headers, None, True  # fetch(), XHR: the next top-level navigation starts it
        mode = site.settings.sync_mode
        status = int(message["status"])
        ip = site.address.bind_value(scope)
        away = site.answering.unreachable(cookie_header(scope["headers"]))  # peers this browser cannot reach
        location = next((v for k, v in headers if k.lower() == b"location"), None)
        if 300 <= status < 400:
            back = None
            if location is not None:
                back = safe_return(urljoin(request_url(site.origin, scope), location.decode("latin-1")), site.site_id)
            if mode is SyncMode.BOUNCE and back is not None:
                first = await site.answering.start_chain(session, return_url=back, ip=ip, away=away)
                if first is not None:
                    headers = [(k, v) for k, v in headers if k.lower() != b"location"]
                    headers = no_store([*headers, (b"location", first.encode("latin-1"))])
                return headers, None, False
            return headers, None, True
        if is_injectable(headers) and scope["method"] != "HEAD":
            if mode is SyncMode.BOUNCE:
                first = await site.answering.start_chain(session, return_url=self._return_here(), ip=ip, away=away)
                return headers, (bounce_snippet(first) if first else None), first is not None
            frames = await self.frames(session, headers)
            return headers, frames, frames is not None
        return headers, None, True

    async def frames(self, session: ActiveSession, headers: Headers) -> bytes | None:
        site, scope = self.context.site, self.scope
        away = site.answering.unreachable(cookie_header(scope["headers"]))
        peers = await site.answering.reachable(user=session.user, away=away)
        if not peers:
            return None
        ip = site.address.bind_value(scope)
        urls = site.answering.frame_urls(peers, session, ip=ip)
        bounce_url = None
        if site.settings.sync_mode is SyncMode.AUTO:
            state = site.tokens.seal_message(
                BouncePayload(session.sid, self._return_here()), subject=session.user, ttl=60, ip=ip
            )
            bounce_url = endpoint_url(site.settings.site_url, site.prefix, Endpoint.BOUNCE, f"t={state}")
        return frames_snippet(
            urls,
            peer_origins=[(p.site_id, p.origin) for _, p in peers],
            nonce=csp_nonce(headers),
            bounce_url=bounce_url,
        )

    def pending_cookie(self, session: ActiveSession) -> bytes:
        site = self.context.site
        ip = site.address.bind_value(self.scope)
        token = site.tokens.seal_message(PendingPayload(session.sid), subject=session.user, ttl=PENDING_LIFETIME, ip=ip)
        return site.cookies.set(self.context.names.pending, token, PENDING_LIFETIME)

    def _return_here(self) -> str:
        """Where the chain brings the user back to after a sign-in that answered with HTML."""
        site, scope = self.context.site, self.scope
        if scope["method"] == "GET":
            return request_url(site.origin, scope)
        referer = header(scope, b"referer") or None
        return safe_return(referer, site.site_id) or local_url(site.origin, scope.get("root_path", "") + "/")
