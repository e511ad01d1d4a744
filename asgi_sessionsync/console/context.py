"""What a console page is given: the request, who is looking, where the console lives,
the form (a POST, checked already), and how an action is written down."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.forms import Form
from asgi_sessionsync.console.guard import Viewer
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import Direction, Outcome

logger = package_log("asgi_sessionsync.console")

#: What an action's redirect may say (``?done=KEY&n=COUNT``): fixed words, so that a link
#: from elsewhere cannot put its own text on a console page.
NOTES = {
    "ended": "Session ended here; its sign-in is ended on every site ({n} here).",
    "ended-all": "Every session of the user ended here ({n}) and on every peer (told through the outbox).",
    "ended-others": "Your other sessions ended ({n}), on every site.",
    "role": "Role changed; peers that take roles are told (user sync).",
    "meta": "Metadata changed; peers that take it are told (user sync).",
    "verified": "Verification mark set; it counts from the next sign-in (sessions made already keep theirs).",
    "revoked": "{n} verification mark(s) revoked.",
    "retried": "{n} message(s) tried again now.",
    "dropped": "{n} message(s) dropped: they will not be sent.",
    "gone": "Nothing was changed: it was not there (any more).",
}


def flash(done: str, count: str) -> str:
    """The words of an action's redirect (``?done=KEY&n=COUNT``), or "" for none of ours."""
    words = NOTES.get(done)
    if words is None:
        return ""
    number = int(count) if count.isdigit() and len(count) < 10 else 0
    return f'<p class="flash" role="status">{render.escape(words.format(n=number))}</p>'


@dataclass(frozen=True, slots=True)
class Ctx:
    request: Request
    viewer: Viewer
    base: str  # the console's URL path, ending in "/"
    csrf: str
    here: str  # the menu entry of this page
    form: Form

    @property
    def site(self) -> Site:
        return self.viewer.site

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "").strip()

    def page(self, title: str, body: str, *, status: int = 200) -> Response:
        return render.page(
            title,
            self._note() + body,
            status=status,
            menu_html=render.menu(self.base, self.here),
            who=f"{self.viewer.email} on {self.site.site_id}",
        )

    def _note(self) -> str:
        return flash(self.query("done"), self.query("n"))

    def done(self, path: str, note: str, count: int = 0) -> Response:
        """After a change: back to a page that says so (Post/Redirect/Get)."""
        target = render.with_query(self.base + path, {"done": note, "n": str(count)})
        return RedirectResponse(target, status_code=303, headers=render.security_headers(render.new_nonce()))

    async def record(self, kind: str, user: str, reason: str, *, outcome: Outcome = Outcome.APPLIED) -> None:
        """Write the action to the activity log (``actor``: who did it) and the site's log."""
        site_log(logger.name, self.site.site_id).info(
            "console: %s by %s: %s%s", kind, self.viewer.email, f"{user}: " if user else "", reason
        )
        await self.site.activity.record(
            Direction.LOCAL, peer="", kind=kind, user=user, outcome=outcome, reason=reason, actor=self.viewer.email
        )


def now() -> float:
    return time.time()
