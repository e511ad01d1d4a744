"""What the parts that answer a request use of their site, built once per middleware.

The request path, the response parts (a sign-out, a login here, the start of the sync)
and the sign-in steps take this instead of the middleware: the site and its parts, the
identity adapter, the app's own login (when the app keeps one), the names of the
middleware's cookies, the one place sessions start, and what a request gets while the
store is down. Nothing here imports the
middleware, and the middleware is the only module that builds one.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgi_sessionsync.cookies import CookieNames
from asgi_sessionsync.identity.base import AppLoginAdapter, IdentityAdapter
from asgi_sessionsync.outage import OutageReplies
from asgi_sessionsync.sessions.opening import SessionOpening
from asgi_sessionsync.site import Site
from asgi_sessionsync.wprus.outgoing import WprusOutgoing


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One site as a request sees it (see the module's doc)."""

    site: Site
    identity: IdentityAdapter
    app_login: AppLoginAdapter | None
    names: CookieNames
    opening: SessionOpening
    outage: OutageReplies
    wordpress: WprusOutgoing  # this site's logins and logouts sent to WordPress sites (wprus/outgoing.py)

    @classmethod
    def build(
        cls,
        site: Site,
        identity: IdentityAdapter,
        app_login: AppLoginAdapter | None,
        outage: OutageReplies | None = None,
    ) -> RequestContext:
        """``outage``: what a request gets while the store is down (default: the
        built-in 503 page)."""
        opening = SessionOpening(site, identity, app_login)
        outage = outage or OutageReplies(site)
        return cls(site, identity, app_login, site.cookie_names, opening, outage, WprusOutgoing(site))
