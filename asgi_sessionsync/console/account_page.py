"""The user's own page: their sessions (device, place, last seen, where signed in), and a
button to end any one or all but this browser's, on every site. Any user signed in on
this site may open it; every change is a POST with the console's CSRF and origin checks.
The middleware serves it at ``<prefix>account``; an app may mount :class:`AccountPage`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

import asgi_sessionsync.console.csrf as csrf
import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.app import run_guarded
from asgi_sessionsync.console.context import flash
from asgi_sessionsync.console.forms import Form
from asgi_sessionsync.console.guard import Viewer, signed_in_here
from asgi_sessionsync.console.own import end_others, end_own, sessions_of


class AccountPage:
    """The page (see the module's doc), an ASGI app."""

    def __init__(self) -> None:
        self.router = Router(
            [
                Route("/", self._page, methods=["GET"]),
                Route("/end", self._end, methods=["POST"]),
                Route("/end-others", self._end_others, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope.get("path") == scope.get("root_path"):
            scope = {**scope, "path": scope["path"] + "/"}
        await self.router(scope, receive, send)

    async def _page(self, request: Request) -> Response:
        async def serve(viewer: Viewer, form: Form) -> Response:
            return await _render(request, viewer)

        return await run_guarded(request, signed_in_here, serve)

    async def _end(self, request: Request) -> Response:
        async def serve(viewer: Viewer, form: Form) -> Response:
            ended = await end_own(viewer, form.get("id"))
            return _back(request, "ended" if ended else "gone", int(ended))

        return await run_guarded(request, signed_in_here, serve)

    async def _end_others(self, request: Request) -> Response:
        async def serve(viewer: Viewer, form: Form) -> Response:
            return _back(request, "ended-others", await end_others(viewer))

        return await run_guarded(request, signed_in_here, serve)


def _base(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + "/"


def _back(request: Request, note: str, count: int) -> Response:
    target = render.with_query(_base(request), {"done": note, "n": str(count)})
    return RedirectResponse(target, status_code=303, headers=render.security_headers(render.new_nonce()))


async def _render(request: Request, viewer: Viewer) -> Response:
    e = render.escape
    token = csrf.token(viewer)
    base = _base(request)
    sessions = await sessions_of(viewer)
    rows = []
    for s in sessions:
        action = (
            "<strong>this browser</strong>"
            if s.current
            else render.post_button(base + "end", "End", token, {"id": s.id}, danger=True)
        )
        rows.append(
            [
                e(s.device),
                e(f"{s.country or 'unknown country'} · {s.address}"),
                e(s.signed_in_at),
                e(render.when(s.started_at)),
                e(render.when(s.last_seen_at)),
                action,
            ]
        )
    others = sum(not s.current for s in sessions)
    end_all = (
        "<p>" + render.post_button(base + "end-others", "Sign out all other sessions", token, danger=True) + "</p>"
        if others
        else ""
    )
    shown = flash(request.query_params.get("done", ""), request.query_params.get("n", ""))
    body = (
        shown
        + f"<p>Signed in as <strong>{e(viewer.email)}</strong> on {e(viewer.site.site_id)}. Each row is a browser "
        "signed in to your account; ending one signs it out on every site of the network.</p>"
        + render.table(("device", "place", "signed in at", "started", "last seen", ""), rows)
        + end_all
    )
    return render.page("Your sessions", body, who=f"{viewer.email} on {viewer.site.site_id}")
