"""The code page's HTML answers (see :mod:`asgi_sessionsync.endpoints.verify`)."""

from __future__ import annotations

import base64

from asgi_sessionsync.endpoints.held import Held, HeldCookies
from asgi_sessionsync.endpoints.reply import Headers, Reply, html, page
from asgi_sessionsync.i18n import N_
from asgi_sessionsync.pages import code_page

# The code page may be framed by nobody and runs no script. (No ``form-action``: browsers
# apply it to the redirect that follows a post too, and a right code redirects on to the
# next site of the chain.)
PAGE_HEADERS: Headers = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
]
EXPIRED_HOLD = (
    N_("This sign-in has expired"),
    N_(
        "The sign-in waiting for a code is no longer valid (it lasts 30 minutes). Nobody was signed in here; "
        "sign in again to try once more."
    ),
)
SENT = N_("We sent a 6-digit code to this address. Enter it to sign in here.")
SENT_AGAIN = N_("We sent a 6-digit code to this address again. Enter it to sign in here.")


class CodeView:
    """Renders the code page of one site: ``action`` is where its forms post."""

    def __init__(self, action: str, holds: HeldCookies, home: str) -> None:
        self.action = action
        self.holds = holds
        self.home = home

    def ask(self, held: Held, return_to: str, *, sent_again: bool = False) -> Reply:
        return self.show(held, return_to, 200, N_("Enter your code"), SENT_AGAIN if sent_again else SENT)

    def expired(self, held: Held, return_to: str, *, status: int = 200) -> Reply:
        message = N_("Codes last 15 minutes. Ask for a new code.")
        return self.show(held, return_to, status, N_("This code has expired"), message, code_form=False)

    def show(
        self, held: Held, return_to: str, status: int, title: str, message: str, *, code_form: bool = True
    ) -> Reply:
        body = code_page(
            action=self.action,
            email=held.email,
            csrf=base64.urlsafe_b64encode(held.payload.csrf).decode("ascii"),
            return_to=return_to,
            title=title,
            message=message,
            code_form=code_form and held.payload.code_id is not None,
            resend=True,
        )
        return html(status, body, list(PAGE_HEADERS))

    def gone(self, return_to: str, *, clear: bool) -> Reply:
        """No hold (expired, or a cookie this site cannot open any more): said so; the
        cookie is cleared only when this request carried one."""
        reply = page(400, *EXPIRED_HOLD, link=return_to or self.home)
        cleared: Headers = [(b"set-cookie", self.holds.clear())] if clear else []
        return reply._replace(headers=[*cleared, *PAGE_HEADERS])
