"""The operator's console as an ASGI app, and its route table.

``Console()`` is mounted by the app wherever it likes (``Mount("/admin", Console(admit=
is_staff))``) behind :class:`~asgi_sessionsync.SessionSyncMiddleware`, whose site it uses
(the same settings and stores: it is found in the request's scope); the middleware also
serves one under its prefix (``/_sessionsync/console/``). Every page goes through the
guard (:mod:`.guard`), every POST through the CSRF and origin check (:mod:`.csrf`); no
exception ever reaches the browser: a store that does not answer is a 503, a bug a 500,
each a short page, the traceback in the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

import asgi_sessionsync.console.csrf as csrf
import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.activity_page import ACTIVITY_ROUTES
from asgi_sessionsync.console.analytics_page import ANALYTICS_ROUTES
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.console.forms import Form, read_form
from asgi_sessionsync.console.guard import Admit, Guard, Refused, Viewer
from asgi_sessionsync.console.network_page import NETWORK_ROUTES
from asgi_sessionsync.console.policy_page import POLICY_ROUTES
from asgi_sessionsync.console.sessions_page import SESSIONS_ROUTES
from asgi_sessionsync.console.users_page import USERS_ROUTES
from asgi_sessionsync.exceptions import SessionSyncError, StoreUnavailable
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.users import site_of

logger = package_log("asgi_sessionsync.console")

Handler = Callable[[Ctx], Awaitable[Response]]
#: A page's routes: (path below the console, methods, handler).
Routes = Sequence[tuple[str, tuple[str, ...], Handler]]

PAGES: tuple[tuple[str, Routes], ...] = (
    ("sessions", SESSIONS_ROUTES),
    ("users", USERS_ROUTES),
    ("network", NETWORK_ROUTES),
    ("analytics", ANALYTICS_ROUTES),
    ("activity", ACTIVITY_ROUTES),
    ("policy", POLICY_ROUTES),
)


def refuse(refused: Refused) -> Response:
    return render.refusal(refused.status, refused.title, refused.message, link="/")


async def run_guarded(
    request: Request,
    admitted: Callable[[Request], Awaitable[Viewer | Refused]],
    serve: Callable[[Viewer, Form], Awaitable[Response]],
) -> Response:
    """Who is asking, the POST's checks, then ``serve``; never an exception to the browser."""
    try:
        found = await admitted(request)
        if isinstance(found, Refused):
            return refuse(found)
        form = Form()
        if request.method == "POST":
            posted = await read_form(request)
            if posted is None:
                return render.refusal(413, "Too large", "What was sent is too large.")
            form = posted
            refused = csrf.check(request, found, form.get(csrf.FIELD))
            if refused is not None:
                site_log(logger.name, found.site.site_id).warning(
                    "console: a POST to %s for %s refused: %s", request.url.path, found.email, refused.message
                )
                return refuse(refused)
        return await serve(found, form)
    except StoreUnavailable:
        return render.refusal(503, "Unavailable", "This site's store does not answer now: try again in a moment.")
    except SessionSyncError as error:
        site_log(logger.name, _origin(request)).error("console %s failed: %s", request.url.path, error)
        return render.refusal(503, "Unavailable", "This could not be done now; the site's log says why.")
    except Exception:
        site_log(logger.name, _origin(request)).exception("console %s failed", request.url.path)
        return render.refusal(500, "Something went wrong", "This page could not be shown; the site's log says why.")


def _origin(request: Request) -> str:
    try:
        return site_of(request).site_id
    except TypeError:
        return "?"


class Console:
    """The operator's pages (see the module's doc). ``admit``: the app's own check of who
    may open it, besides the privileged roles (:data:`~.guard.Admit`)."""

    def __init__(self, admit: Admit | None = None) -> None:
        self.guard = Guard(admit)
        routes = [Route("/", self._home, methods=["GET"])]
        for here, page_routes in PAGES:
            for path, methods, handler in page_routes:
                routes.append(Route(f"/{path}", self._endpoint(handler, here), methods=list(methods)))
        self.router = Router(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope.get("path") == scope.get("root_path"):  # the mount point without its slash
            await RedirectResponse(scope["path"] + "/", 307)(scope, receive, send)
            return
        await self.router(scope, receive, send)

    async def _home(self, request: Request) -> Response:
        return RedirectResponse(_base(request) + "sessions", 303, headers=render.security_headers(render.new_nonce()))

    def _endpoint(self, handler: Handler, here: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            async def serve(viewer: Viewer, form: Form) -> Response:
                return await handler(Ctx(request, viewer, _base(request), csrf.token(viewer), here, form))

            return await run_guarded(request, self.guard.operator, serve)

        return endpoint


def _base(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + "/"
