"""What every sign-in step shares: the site, the cookie names, the bind cookie's two
policies, what counts as a navigation, this browser's session, and the refusal pages."""

from __future__ import annotations

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie
from asgi_sessionsync.endpoints.declined import Declines
from asgi_sessionsync.endpoints.held import HeldCookies
from asgi_sessionsync.endpoints.reply import Headers, Reply, page
from asgi_sessionsync.exceptions import EnvelopeFailure
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.i18n import N_
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.protocol import Endpoint, Mode
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.urls import endpoint_url, origin_of

logger = package_log("asgi_sessionsync.endpoints")

# Authentic envelopes refused for these reasons are skipped: the chain goes on.
SKIPPABLE = frozenset({EnvelopeFailure.EXPIRED, EnvelopeFailure.NOT_YET_VALID, EnvelopeFailure.IP_MISMATCH})
NOT_VALID = (
    N_("This sign-in link is not valid"),
    N_("It may have been changed, cut short or used already. Nobody was signed in."),
)
# A configuration mismatch between two sites (another key, a site not listed as a peer),
# not something the user did: said as such.
NOT_SET_UP = (
    N_("These sites do not share sign-in"),
    N_(
        "The site that sent you here is not set up to share sign-in with this one. Nobody was signed in; "
        "you can sign in on this site directly."
    ),
)
MISMATCH = frozenset({EnvelopeFailure.UNKNOWN_KEY, EnvelopeFailure.WRONG_ISSUER, EnvelopeFailure.WRONG_AUDIENCE})


def refused(reason: EnvelopeFailure | None) -> Reply:
    """The page for a refused sign-in step, in words that fit why."""
    return page(400, *(NOT_SET_UP if reason in MISMATCH else NOT_VALID))


class StepKit:
    """The sign-in steps' common ground (one per site): built once, shared by each step."""

    def __init__(self, context: RequestContext) -> None:
        site = context.site
        self.site = site
        self.identity = context.identity
        self.app_login = context.app_login
        self.opening = context.opening
        self.log = site_log(logger.name, site.site_id)
        self.names = site.cookie_names
        self.members = site.tokens.all_members()
        # The network's origins (sub-folder sites share one): what CORS and frame-ancestors name.
        self.origins = sorted({origin_of(member) for member in self.members})
        self.frame_ancestors = ("frame-ancestors " + " ".join(self.origins)).encode()
        self.holds = HeldCookies(site)
        self.declines = Declines(site)
        self.home = site.settings.site_url + "/"  # this site's home, below its path
        self.verify_url = endpoint_url(site.settings.site_url, site.prefix, Endpoint.VERIFY)
        policy = site.cookies
        self.bind_policy = {
            Mode.PAGE: CookiePolicy(path=policy.path, domain=policy.domain, secure=policy.secure, samesite="lax"),
            Mode.FRAME: CookiePolicy(path=policy.path, domain=policy.domain, secure=True, samesite="none"),
        }

    def navigates(self, scope: Scope, mode: Mode) -> bool:
        dest = b"iframe" if mode is Mode.FRAME else b"document"
        return fetch_metadata(scope).navigates_to(dest, scope["method"])

    def frame_headers(self, mode: Mode) -> Headers:
        return [(b"content-security-policy", self.frame_ancestors)] if mode is Mode.FRAME else []

    async def current(self, scope: Scope, cookies: bytes | None) -> ActiveSession | None:
        """This browser's session here, if any."""
        token = find_cookie(cookies, self.names.session)
        if token is None:
            return None
        return await self.site.resolver.resolve(token, self.site.address.bind_value(scope))
