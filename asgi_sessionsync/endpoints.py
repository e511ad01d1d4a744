"""The middleware's own endpoints, under the path prefix (default ``/_sessionsync/``).

- ``GET  hop?e=…``         one step of the sign-in redirect chain
- ``GET  frame?e=…``       a hidden-iframe sign-in (frame and auto mode)
- ``GET  framecheck?e=…``  inside the frame: did the cookie stick? tells the parent page
- ``GET  bounce?t=…``      auto mode: redirect chain through the peers whose frame failed
- ``POST backchannel``     a signed message from a peer (sign-out)
- ``GET  ping``            liveness, for peers deciding whom to send browsers to

No handler ever lets an exception reach the browser: bad input gets a 4xx page.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.envelope import Claims
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure, SessionSyncError
from asgi_sessionsync.identity.base import IdentityAdapter
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.pages import error_page, frame_result_page
from asgi_sessionsync.service import ActiveSession, SyncService

logger = logging.getLogger("asgi_sessionsync.endpoints")

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

# Authentic envelopes refused for these reasons are skipped: the chain goes on.
_SKIPPABLE = frozenset({EnvelopeFailure.EXPIRED, EnvelopeFailure.NOT_YET_VALID, EnvelopeFailure.IP_MISMATCH})
APPLIED_MESSAGE_MEMORY = 7 * 86400.0  # how long a peer message id is remembered as applied
MAX_MESSAGE_BYTES = 64 * 1024
_METHODS = {
    # Single-use steps answer GET only: a HEAD from a link checker must not burn a hop.
    "hop": ("GET",),
    "frame": ("GET",),
    "framecheck": ("GET",),
    "bounce": ("GET",),
    "ping": ("GET", "HEAD"),
    "backchannel": ("POST",),
}
_NO_STORE: Headers = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]


class Endpoints:
    def __init__(self, service: SyncService, identity: IdentityAdapter) -> None:
        self.service = service
        self.identity = identity
        self.cookie_name = service.settings.cookie_name
        members = sorted({o for origins in service.members.values() for o in origins})
        self.frame_ancestors = ("frame-ancestors " + " ".join(members)).encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any, name: str, cookies: bytes | None) -> None:
        try:
            status, headers, body = await self._route(scope, receive, name, cookies)
        except SessionSyncError as error:
            # A store or peer failure: say so plainly, keep the details in the log.
            logger.error("sessionsync endpoint %s failed: %s", name, error)
            status, headers, body = (
                503,
                [],
                error_page(
                    "Sign-in is unavailable", "This site could not complete the sign-in step. Please try again."
                ),
            )
        except Exception:
            logger.exception("sessionsync endpoint %s failed", name)
            status, headers, body = (
                500,
                [],
                error_page("Something went wrong", "This site could not complete the sign-in step."),
            )
        content_type = (
            b"text/plain; charset=utf-8" if status == 204 or not body.startswith(b"<") else b"text/html; charset=utf-8"
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    *_NO_STORE,
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _route(self, scope: Scope, receive: Any, name: str, cookies: bytes | None) -> tuple[int, Headers, bytes]:
        method = scope["method"]
        allowed = _METHODS.get(name)
        if allowed is None:
            return 404, [], b"not found"
        if method not in allowed:
            return 405, [(b"allow", ", ".join(allowed).encode())], b"method not allowed"
        if name == "ping":
            return 204, [], b""
        if name == "backchannel":
            return await self.backchannel(await _read_body(receive))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if name == "hop":
            return await self.hop(scope, cookies, _first(query, "e"))
        if name == "frame":
            return await self.frame(scope, cookies, _first(query, "e"))
        if name == "framecheck":
            return await self.frame_check(scope, cookies, _first(query, "e"))
        return await self.bounce(scope, cookies, _first(query, "t"), _first(query, "peers"))

    # -- sign-in steps ----------------------------------------------------------------------

    async def hop(self, scope: Scope, cookies: bytes | None, token: str) -> tuple[int, Headers, bytes]:
        service = self.service
        try:
            claims = service.open(token, Purpose.HOP, ip=service.ip_binding(scope))
        except EnvelopeError as error:
            onward = service.next_url(error.claims) if error.claims and error.reason in _SKIPPABLE else None
            if onward:
                logger.info("sign-in hop skipped here (%s); chain continues", error.reason)
                return _redirect(onward)
            logger.warning("sign-in hop refused: %s", error.reason)
            return (
                400,
                [],
                error_page(
                    "This sign-in link is not valid",
                    "It may have been changed or cut short. Signing in on this site was skipped.",
                ),
            )
        onward = service.next_url(claims) or service.local_url("/")
        if not await service.stores.replay.use(claims.jti, claims.expires_at + service.settings.clock_skew):
            logger.info("sign-in hop skipped here (already used); chain continues")
            return _redirect(onward)
        _, cookies_set = await self._sign_in_here(scope, cookies, claims, "hop")
        return _redirect(onward, cookies_set)

    async def frame(self, scope: Scope, cookies: bytes | None, token: str) -> tuple[int, Headers, bytes]:
        service = self.service
        frame_headers: Headers = [(b"content-security-policy", self.frame_ancestors)]
        try:
            claims = service.open(token, Purpose.FRAME, ip=service.ip_binding(scope))
        except EnvelopeError as error:
            logger.warning("frame sign-in refused: %s", error.reason)
            if error.claims is not None:
                return self._frame_result(False, error.claims.issuer)
            return 400, frame_headers, b"invalid sign-in frame"
        if not await service.stores.replay.use(claims.jti, claims.expires_at + service.settings.clock_skew):
            return self._frame_result(False, claims.issuer)
        session, headers = await self._sign_in_here(scope, cookies, claims, "frame")
        if session is None:
            return self._frame_result(False, claims.issuer)
        check = service.seal_for_self(
            Purpose.STATE,
            subject=session.user,
            ttl=service.settings.hop_lifetime,
            ip=service.ip_binding(scope),
            extra={"s": session.sid, "p": claims.issuer},
        )
        return _redirect(f"{service.origin}{service.prefix}framecheck?e={check}", headers + frame_headers)

    async def frame_check(self, scope: Scope, cookies: bytes | None, token: str) -> tuple[int, Headers, bytes]:
        service = self.service
        try:
            claims = service.open(token, Purpose.STATE, ip=service.ip_binding(scope))
        except EnvelopeError as error:
            logger.warning("frame check refused: %s", error.reason)
            return 400, [(b"content-security-policy", self.frame_ancestors)], b"invalid frame check"
        parent = str(claims.extra.get("p", ""))
        sid = str(claims.extra.get("s", ""))
        current = await self._current(scope, cookies)
        stuck = current is not None and current.sid == sid
        if not stuck:
            # The browser refused the cookie (third-party cookies blocked): this session
            # can never be used, so end it rather than leave it looking active.
            await service.end_session(sid, "cookie refused in frame")
        return self._frame_result(stuck, parent)

    def _frame_result(self, ok: bool, parent: str) -> tuple[int, Headers, bytes]:
        nonce = secrets.token_urlsafe(16)
        policy = f"{self.frame_ancestors.decode()}; script-src 'nonce-{nonce}'; default-src 'none'"
        page = frame_result_page(ok=ok, peer_origin=self.service.origin, parent_origin=parent, nonce=nonce)
        return 200, [(b"content-security-policy", policy.encode())], page

    async def bounce(self, scope: Scope, cookies: bytes | None, token: str, peers: str) -> tuple[int, Headers, bytes]:
        service = self.service
        ip = service.ip_binding(scope)
        try:
            claims = service.open(token, Purpose.STATE, ip=ip)
        except EnvelopeError as error:
            logger.warning("bounce refused: %s", error.reason)
            return 400, [], error_page("This link is not valid", "Signing in on the other sites was skipped.")
        back = service.safe_return(claims.extra.get("r"), service.origin) or service.local_url("/")
        current = await self._current(scope, cookies)
        if current is None or current.sid != claims.extra.get("s"):
            return _redirect(back)
        wanted = [o for o in peers.split() if o]
        chain = service.hop_chain(await service.reachable_peers(wanted), session=current, return_url=back, ip=ip)
        return _redirect(chain or back)

    async def _current(self, scope: Scope, cookies: bytes | None) -> ActiveSession | None:
        token = find_cookie(cookies, self.cookie_name)
        if token is None:
            return None
        return await self.service.resolve_session(token, self.service.ip_binding(scope))

    async def _sign_in_here(
        self, scope: Scope, cookies: bytes | None, claims: Claims, step: str
    ) -> tuple[ActiveSession | None, Headers]:
        """Make the user a peer vouches for signed in here; return the session and its cookies."""
        service = self.service
        extra, issuer = claims.extra, claims.issuer
        via = f"{step} from {issuer}"
        user = await service.ensure_user(claims.subject, name=str(extra.get("n", "")), vouched_by=issuer)
        if user is None:
            logger.info("sign-in from %s skipped: the user is unknown here and auto-provisioning is off", issuer)
            return None, []
        chain = extra.get("c") if isinstance(extra.get("c"), str) else None
        current = await self._current(scope, cookies)
        if current is not None:
            if current.user == user.email and current.chain == chain:
                return current, []
            await service.end_session(current.sid, f"replaced by sign-in {via}")
        session, token = await service.start_session(user, chain=chain, scope=scope, via=via)
        cookie = service.cookies.set(self.cookie_name, token, int(service.settings.session_lifetime))
        app_login = await self.identity.login_cookies(user)
        return session, [(b"set-cookie", cookie), *((b"set-cookie", c) for c in app_login)]

    # -- server to server --------------------------------------------------------------------

    async def backchannel(self, body: bytes | None) -> tuple[int, Headers, bytes]:
        service = self.service
        if body is None:
            return 413, [], b"message too large"
        try:
            claims = service.open(body.decode("ascii", "replace").strip(), Purpose.BACKCHANNEL, ip=None)
        except EnvelopeError as error:
            logger.warning("back-channel message refused: %s", error.reason)
            return 400, [], f"refused: {error.reason}".encode()
        if await service.stores.replay.seen(claims.jti):
            return 200, [], b"already applied"
        kind = claims.extra.get("k")
        if kind == "logout":
            ended = await service.apply_logout(claims)
            logger.info("sign-out of %s from %s: %d session(s) ended here", claims.subject, claims.issuer, ended)
        else:
            return 400, [], b"unknown message kind"
        # Applied first, remembered second: a crash between the two makes the sender
        # retry, and applying a sign-out twice changes nothing.
        await service.stores.replay.use(claims.jti, time.time() + APPLIED_MESSAGE_MEMORY)
        return 204, [], b""


def _redirect(location: str, headers: Headers | None = None) -> tuple[int, Headers, bytes]:
    return 303, [(b"location", location.encode("latin-1")), *(headers or [])], b""


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


async def _read_body(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
