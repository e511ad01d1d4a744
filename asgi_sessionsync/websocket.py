"""Who a websocket comes in as: its session cookie resolved as a request's (no sign-in or
sign-out happens on a websocket), refused with 1013 ("try again later") while the store
is down, never taken for anonymous."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_sessionsync.cookies import cookie_header
from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.request_identity import RequestIdentity


async def serve_websocket(identify: RequestIdentity, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Show the websocket's user to ``app`` and hand it over (or close it: store down)."""
    cookies = cookie_header(scope["headers"])
    if cookies is None or identify.names.duplicated(cookies) is not None:
        identify.identity.expose(scope, None)  # no cookie, or two of one name: neither trusted
    else:
        try:
            await identify.identify(scope, cookies)
        except StoreUnavailable:
            # Who this is cannot be known now: refused, "try again later" (never anonymous).
            identify.site.stores.availability.note("websockets refused")
            await receive()
            await send({"type": "websocket.close", "code": 1013})
            return
    await app(scope, receive, send)
