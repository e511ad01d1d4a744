"""``GET whoami``: who is signed in here, for the pages of the network's sites (CORS).

A single-page app on one site can show the shared login of another: ``fetch(
"https://a.example/_sessionsync/whoami", {credentials: "include"})``. The answer is
JSON with the signed-in user's public identity only (email and name: no role, no
session id, no token), never cached. CORS headers, with credentials, are given only to
an ``Origin`` that is exactly one of the network's origins (``Vary: Origin``); another
origin is refused (403, nothing said), and so is its preflight. A request without
``Origin`` (this site's own pages, a script) is answered without CORS headers.

Nothing is concluded from what could not be seen: ``signed_in`` is ``null`` (with
``why``) when the session cookie could not have come (a cross-site request and a
``SameSite=Lax`` or ``Strict`` cookie; a cross-site request without the cookie, which a
browser that blocks third-party cookies never sends) or when the request carries two
cookies of the session's name.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Scope

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.reply import Headers, Reply, text
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.fetch_metadata import fetch_metadata

JSON = b"application/json"
PREFLIGHT_MAX_AGE = b"600"
ALLOWED_HEADERS = b"accept, content-type"
NOT_A_MEMBER = text(403, "this origin is not one of the network's sites")


class WhoAmI:
    """Answers ``whoami`` and its preflight (one per site)."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.site = kit.site
        self.members = frozenset(kit.origins)

    async def __call__(self, scope: Scope, cookies: bytes | None) -> Reply:
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        if origin is not None and origin != self.site.origin and origin not in self.members:
            return NOT_A_MEMBER._replace(headers=[(b"vary", b"origin")])
        cors: Headers = [(b"vary", b"origin")]
        if origin is not None:
            cors += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
            ]
        if scope["method"] == "OPTIONS":
            if origin is None:
                return text(400, "a preflight names its Origin", cors)
            allowed = [
                (b"access-control-allow-methods", b"GET"),
                (b"access-control-allow-headers", ALLOWED_HEADERS),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE),
            ]
            return Reply(204, b"", JSON, [*cors, *allowed])
        body = await self._identity(scope, cookies)
        return Reply(200, json.dumps(body, separators=(",", ":")).encode(), JSON, cors)

    async def _identity(self, scope: Scope, cookies: bytes | None) -> dict[str, Any]:
        site = self.site
        answer: dict[str, Any] = {"site": site.site_id}
        names = self.kit.names
        if cookies is not None and names.duplicated(cookies) is not None:
            return {**answer, "signed_in": None, "why": "two cookies of one name came: this site cannot tell"}
        token = find_cookie(cookies, names.session)
        cross_site = fetch_metadata(scope).is_cross_site(site.origin)
        if token is None and cross_site:
            why = (
                f"this site's session cookie is SameSite={site.cookies.samesite.capitalize()}: "
                "a request from another site does not carry it"
                if site.cookies.samesite != "none"
                else "no session cookie came: nobody is signed in here, or this browser blocks third-party cookies"
            )
            return {**answer, "signed_in": None, "why": why}
        session = await self.kit.current(scope, cookies) if token is not None else None
        if session is None:
            return {**answer, "signed_in": False}
        return {**answer, "signed_in": True, "email": session.user, "name": session.name}
