"""What a request gets while the site's store is down (docs/operations.md, "When a store is
down"): a clear ``503`` with ``Retry-After``, never a 500 and never a traceback.

A store that cannot answer raises :class:`~asgi_sessionsync.exceptions.StoreUnavailable`
(its :class:`~asgi_sessionsync.stores.availability.Availability` has logged that, once).
Where a request is answered, that becomes one of these replies, counted for the line that
says the store is back:

- a signed-in page the store cannot vouch for (``PAGE``): "cannot be shown right now";
- a sign-in (``SIGN_IN``): nobody was signed in;
- a sign-out (``SIGN_OUT``): it did not happen, the browser is still signed in here and on
  the other sites, and nothing was concluded from what could not be seen; or, when the
  store may yet carry it out (it did not answer in time), it "could not be confirmed",
  the browser is asked to sign out again, and if ending the sessions was what failed the
  peers are told all the same (``Site.sign_out``);
- a sign-in step below the path prefix (``STEP``).

Browsers (an ``Accept`` naming ``text/html``) get a small HTML page, or the site's own
(``SESSIONSYNC_UNAVAILABLE_PAGE``, served as it is); anything else plain text. Every
answer is ``503`` with ``Retry-After`` and ``Cache-Control: no-store``, sets and clears
no cookie, and says nothing of the store but that it does not answer.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from starlette.types import Message, Scope, Send

from asgi_sessionsync.endpoints.reply import HTML, TEXT, Reply
from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.i18n import N_, for_request
from asgi_sessionsync.pages import error_page

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

RETRY_AFTER = 10  # seconds a browser or client is asked to wait before trying again


class Situation(enum.Enum):
    PAGE = "signed-in pages"
    SIGN_IN = "sign-ins"
    SIGN_OUT = "sign-outs"
    SIGN_OUT_UNCONFIRMED = "sign-outs not confirmed"  # a SIGN_OUT the store may yet carry out
    STEP = "sign-in steps"


_WORDS: dict[Situation, tuple[str, str]] = {
    Situation.PAGE: (
        N_("This page is briefly unavailable"),
        N_(
            "This site cannot check your sign-in right now (its session store does not answer), so nothing "
            "was done. Please try again in a minute."
        ),
    ),
    Situation.SIGN_IN: (
        N_("Sign-in is unavailable right now"),
        N_("This site cannot reach its session store, so nobody was signed in. Please try again in a minute."),
    ),
    Situation.SIGN_OUT: (
        N_("Sign-out did not happen"),
        N_(
            "This site cannot reach its session store, so you are still signed in, here and on our other "
            "sites. Please try again in a minute."
        ),
    ),
    Situation.SIGN_OUT_UNCONFIRMED: (
        N_("Sign-out could not be confirmed"),
        N_(
            "This site's session store did not answer in time, so it cannot say whether you are signed out. "
            "To be sure, please sign out again in a minute."
        ),
    ),
    Situation.STEP: (
        N_("Sign-in is unavailable"),
        N_(
            "This site could not complete the sign-in step (its session store does not answer). "
            "Please try again in a minute."
        ),
    ),
}


def situation_of(before: str | None, after: str | None, renewed: bool = False) -> Situation:
    """What a response that changed who is signed in was doing: a sign-out when the user
    it came in as is gone, a sign-in when someone (new, or again) is signed in."""
    if before is not None and after is None:
        return Situation.SIGN_OUT
    if after is not None and (after != before or renewed):
        return Situation.SIGN_IN
    return Situation.PAGE


def _wants_html(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"accept":
            return b"text/html" in value or b"application/xhtml+xml" in value
    return False


class OutageReplies:
    """The 503 answers of one site; ``page``: its own HTML page, if it gives one."""

    def __init__(self, site: Site, page: bytes | None = None) -> None:
        self.site = site  # its stores (and their availability) change when it is opened again
        self.page = page

    def reply(self, scope: Scope, situation: Situation) -> Reply:
        headers = [(b"retry-after", str(RETRY_AFTER).encode())]
        title, words = _WORDS[situation]
        if _wants_html(scope):
            for_request(scope, self.site.settings.template_dir)
            return Reply(503, self.page or error_page(title, words), HTML, headers)
        return Reply(503, f"{title}: {words}\n".encode(), TEXT, headers)

    async def answer(self, scope: Scope, send: Send, error: StoreUnavailable, situation: Situation) -> None:
        """Send the 503 for ``situation`` (nothing has been sent for this request yet)."""
        if situation is Situation.SIGN_OUT and error.maybe_done:
            situation = Situation.SIGN_OUT_UNCONFIRMED
        self.site.stores.availability.note(f"{situation.value} answered 503")
        await self.reply(scope, situation).send(send)

    async def instead(self, scope: Scope, send: Send, error: StoreUnavailable, situation: Situation) -> Send:
        """At the response start: send the 503 instead of the app's answer, and return
        the ``send`` that drops the rest of the app's answer."""
        await self.answer(scope, send, error, situation)

        async def dropped(message: Message) -> None:
            return None

        return dropped
