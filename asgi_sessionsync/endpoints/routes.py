"""The middleware's own endpoints, under the path prefix (default ``/_sessionsync/``).

One route table: each :class:`~asgi_sessionsync.protocol.Endpoint` with the methods it
answers and its handler. Single-use steps answer GET only, so that a HEAD from a link
checker cannot burn a hop. No handler ever lets an exception reach the browser: bad
input gets a 4xx page, a store or peer failure a 503, a bug a 500 (with its
traceback in the log, never in the page). A sign-in step whose request carries two
cookies of one of the middleware's names (another host under a parent domain set one)
is refused with a 400 page before it reads either: nobody is signed in. A store that does
not answer is a 503 too, but not logged per request: the store's availability says it
once (:mod:`asgi_sessionsync.outage`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_sessionsync.endpoints.arrival import Arrivals
from asgi_sessionsync.endpoints.authorize import Authorize
from asgi_sessionsync.endpoints.bounce import Bounce
from asgi_sessionsync.endpoints.catchup_step import CatchUpStep
from asgi_sessionsync.endpoints.hop import Hop
from asgi_sessionsync.endpoints.ping import Ping
from asgi_sessionsync.endpoints.pull import Pull
from asgi_sessionsync.endpoints.receiver import BackchannelReceiver
from asgi_sessionsync.endpoints.reply import Reply, page, text
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.endpoints.verify import CodeCheck
from asgi_sessionsync.endpoints.whoami import WhoAmI
from asgi_sessionsync.exceptions import SessionSyncError, StoreUnavailable
from asgi_sessionsync.i18n import N_, for_request
from asgi_sessionsync.logs import RateLimit, package_log, site_log
from asgi_sessionsync.outage import Situation
from asgi_sessionsync.protocol import Endpoint
from asgi_sessionsync.request_context import RequestContext
from asgi_sessionsync.wprus.routes import BROWSER as WPRUS_BROWSER
from asgi_sessionsync.wprus.routes import WprusRoutes, is_wprus

logger = package_log("asgi_sessionsync.endpoints")

Handler = Callable[[Scope, Receive, bytes | None], Awaitable[Reply]]

# The steps that read this browser's cookies (the back-channel and the ping read none).
BROWSER_STEPS = frozenset(
    {Endpoint.PULL, Endpoint.AUTHORIZE, Endpoint.HOP, Endpoint.BOUNCE, Endpoint.VERIFY, Endpoint.CATCHUP}
)
TWO_COOKIES = (
    N_("This browser sent conflicting cookies"),
    N_(
        "This site received two cookies with the same name, so it could not tell which one is its own. Nobody was "
        "signed in. Another site under the same domain may have set one; clearing this site's cookies fixes it."
    ),
)


class Endpoints:
    """Routes a request below the path prefix to its handler and sends the reply.
    ``pages``: ASGI apps served below the prefix by their first path segment (the
    console's: ``console/…``, ``account``), each with that much of the path as its root."""

    def __init__(self, context: RequestContext, pages: Mapping[str, ASGIApp] | None = None) -> None:
        site = context.site
        self.pages = dict(pages or {})
        self.prefix = site.prefix
        self.template_dir = site.settings.template_dir
        self.outage = context.outage
        # The sign-in steps, each built from what it uses (what they share: the kit).
        kit = StepKit(context)
        arrivals = Arrivals(kit)
        steps_pull, steps_authorize, steps_bounce = Pull(kit), Authorize(kit), Bounce(kit)
        steps_hop, steps_catchup = Hop(kit, arrivals), CatchUpStep(kit)
        self.codes = codes = CodeCheck(kit, arrivals.arrive, steps_hop.onward)
        receiver = BackchannelReceiver(site)
        who_am_i = WhoAmI(kit)
        self.log = log = site_log(logger.name, site.site_id)
        self.names = site.cookie_names
        self._say_twice = RateLimit()

        async def pull(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            query = _query(scope)
            return await steps_pull.pull(
                scope, cookies, _first(query, "i"), _first(query, "k"), _first(query, "m"), _first(query, "s") == "1"
            )

        async def authorize(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            return await steps_authorize.authorize(scope, cookies, _first(_query(scope), "q"))

        async def hop(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            return await steps_hop.hop(scope, cookies, _first(_query(scope), "e"))

        async def bounce(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            query = _query(scope)
            return await steps_bounce.bounce(scope, cookies, _first(query, "t"), _first(query, "peers"))

        async def catchup(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            query = _query(scope)
            return await steps_catchup.catchup_step(
                scope, cookies, _first(query, "r"), _first(query, "x"), _first(query, "h")
            )

        async def verify(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            return await codes(scope, receive, cookies)

        async def whoami(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            return await who_am_i(scope, cookies)

        async def backchannel(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            return await receiver(receive, site.address.host(scope))

        answer_ping = Ping(site, frozenset(kit.origins), log)

        async def ping(scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
            return await answer_ping(scope, receive)

        self.wordpress = WprusRoutes(kit, arrivals, context.wordpress)  # WP Remote Users Sync (asgi_sessionsync/wprus/)
        self.routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            Endpoint.PULL: (("GET",), pull),
            Endpoint.AUTHORIZE: (("GET",), authorize),
            Endpoint.HOP: (("GET",), hop),
            Endpoint.BOUNCE: (("GET",), bounce),
            Endpoint.CATCHUP: (("GET",), catchup),
            Endpoint.VERIFY: (("GET", "POST"), verify),
            Endpoint.BACKCHANNEL: (("POST",), backchannel),
            Endpoint.PING: (("GET", "HEAD", "POST"), ping),
            Endpoint.WHOAMI: (("GET", "OPTIONS"), whoami),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send, name: str, cookies: bytes | None) -> None:
        for_request(scope, self.template_dir)  # every step may answer with a page
        head = name.split("/", 1)[0]
        served = self.pages.get(head)
        if served is not None:
            root = scope.get("root_path", "") + self.prefix + head
            await served({**scope, "root_path": root}, receive, send)
            return
        route = self.routes.get(name)
        if is_wprus(name):
            route = (self.wordpress.methods(name), self.wordpress)
        if route is None:
            reply = text(404, "not found")
        elif scope["method"] not in route[0]:
            reply = text(405, "method not allowed", [(b"allow", ", ".join(route[0]).encode())])
        elif _reads_cookies(name) and cookies is not None and (twice := self.names.duplicated(cookies)) is not None:
            if self._say_twice(twice):
                self.log.warning(
                    "sign-in step %s refused: the request carried two cookies named %s (another host may have set "
                    "one for a parent domain); nobody signed in; repeats are not logged for a minute",
                    name,
                    twice,
                )
            reply = page(400, *TWO_COOKIES)
        else:
            reply = await self._run(route[1], scope, receive, cookies, name)
        await reply.send(send)

    async def _run(self, handler: Handler, scope: Scope, receive: Receive, cookies: bytes | None, name: str) -> Reply:
        try:
            return await handler(scope, receive, cookies)
        except StoreUnavailable:
            # Said once by the store's availability, not once per request; a peer retries.
            self.outage.site.stores.availability.note(f"{name} requests answered 503")
            return self.outage.reply(scope, Situation.STEP)
        except SessionSyncError as error:
            # A store or peer failure: say so plainly, keep the details in the log.
            self.log.error("sessionsync endpoint %s failed: %s", name, error)
            return page(
                503,
                N_("Sign-in is unavailable"),
                N_("This site could not complete the sign-in step. Please try again."),
            )
        except Exception:
            self.log.exception("sessionsync endpoint %s failed", name)
            return page(500, N_("Something went wrong"), N_("This site could not complete the sign-in step."))


def _reads_cookies(name: str) -> bool:
    """A step that reads this browser's cookies (ours, or WP Remote Users Sync's browser side)."""
    return name in BROWSER_STEPS or name.rstrip("/") in WPRUS_BROWSER


def _query(scope: Scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""
