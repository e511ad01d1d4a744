"""Answers a navigation gets instead of the app's page (a 303): the code page while a
peer's sign-in is held for a code, and the sign-in chain that an earlier sign-in could
not start from its own response (bounce mode's pending cookie)."""

from __future__ import annotations

from starlette.types import Scope, Send

from asgi_sessionsync.cookies import cookie_header
from asgi_sessionsync.endpoints.verify import CodeCheck
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.protocol import PendingPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.site import Site
from asgi_sessionsync.urls import request_url


class Detours:
    """Sends a navigation elsewhere before the app sees it (one per middleware)."""

    def __init__(self, site: Site, codes: CodeCheck) -> None:
        self.site = site
        self.codes = codes
        self._pending_name = site.cookie_names.pending

    async def bounce_now(self, scope: Scope, send: Send, session: ActiveSession, pending: str) -> bool:
        """A sign-in earlier could not start the chain; start it from this navigation."""
        site = self.site
        ip = site.address.bind_value(scope)
        headers = [(b"set-cookie", site.cookies.delete(self._pending_name))]
        try:
            _, payload = site.tokens.open_message(pending, PendingPayload, ip=ip)
        except EnvelopeError:
            payload = None
        target = None
        if payload is not None and payload.sid == session.sid:
            back = request_url(site.origin, scope)
            away = site.answering.unreachable(cookie_header(scope["headers"]))
            target = await site.answering.start_chain(session, return_url=back, ip=ip, away=away)
        if target is None:
            return False
        headers += [(b"location", target.encode("latin-1")), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    async def show_code_page(self, scope: Scope, send: Send, cookies: bytes) -> bool:
        """A held sign-in waits for its code: send this navigation to the code page
        (which comes back here afterwards). False when the cookie holds nothing."""
        codes = self.codes
        if codes.holds.open(scope, cookies) is None:
            return False
        target = codes.page_url(request_url(self.site.origin, scope))
        headers = [(b"location", target.encode("latin-1")), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True
