"""Mailing a code for a held sign-in, within the limits (see
:mod:`asgi_sessionsync.verification`); a mailer that fails is said on the page, never
raised, and loses nothing."""

from __future__ import annotations

import secrets

import anyio
from starlette.types import Scope

from asgi_sessionsync.endpoints.code_view import CodeView
from asgi_sessionsync.endpoints.held import Held, HeldCookies
from asgi_sessionsync.endpoints.reply import Reply
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.mail import code_message
from asgi_sessionsync.site import Site
from asgi_sessionsync.verification import CODE_LIFETIME, RESEND_GAP, new_code

logger = package_log("asgi_sessionsync.verify")


class CodeSender:
    """Sends the codes of one site's holds."""

    def __init__(self, site: Site, holds: HeldCookies, view: CodeView, site_name: str) -> None:
        self.site = site
        self.holds = holds
        self.view = view
        self.site_name = site_name
        self.sender = site.settings.mail.mail_from or f"no-reply@{site_name.partition(':')[0]}"
        self.log = site_log(logger.name, site.site_id)

    async def __call__(self, scope: Scope, held: Held, return_to: str, *, resend: bool) -> Reply:
        """Mail a new code for ``held`` (within the limits) and show the page asking for it;
        or a page saying why no code was sent."""
        site = self.site
        now = site.tokens.clock()
        payload = held.payload
        if payload.code_expires is not None and now < payload.code_expires - CODE_LIFETIME + RESEND_GAP:
            wait = int(payload.code_expires - CODE_LIFETIME + RESEND_GAP - now) + 1
            return self.view.show(
                held,
                return_to,
                429,
                "Enter your code",
                f"A code was sent moments ago. You can ask for another in {wait} seconds.",
                code_form=True,
            )
        refusal = await site.marks.take_send(held.email)
        if refusal is not None:
            self.log.warning("code page: no code sent to %s (%s limit)", held.email, refusal.reason)
            message = (
                "A code was sent to this address moments ago. Wait half a minute, then ask for a new one."
                if refusal.reason == "gap"
                else "Too many codes were sent to this address in the last hour. Try again later."
            )
            return self.view.show(held, return_to, 429, "Please wait", message, code_form=payload.code_id is not None)
        code = new_code()
        code_id = secrets.token_bytes(16)
        mail = code_message(
            sender=self.sender,
            to=held.email,
            site=self.site_name,
            code=code,
            minutes=CODE_LIFETIME // 60,
        )
        mailer = site.mailer
        sent = False
        if mailer is None:
            self.log.error("code page: no mailer is configured; no code can be sent")
        else:
            try:
                with anyio.fail_after(site.settings.mail.smtp_timeout + 1.0):
                    await mailer.send(mail)
                sent = True
            except Exception as error:  # any failure of the mailer: said, never raised to the browser
                self.log.error(
                    "code page: the code for %s could not be sent: %s: %s",
                    held.email,
                    type(error).__name__,
                    _scrub(str(error), code),
                )
        if not sent:
            return self.view.show(
                held,
                return_to,
                503,
                "The code could not be sent",
                "We could not send a code to this address just now. Nothing is lost: try again in a moment.",
                code_form=False,
            )
        await site.marks.sent(held.email)
        self.log.info("code page: a code was sent to %s%s", held.email, " again" if resend else "")
        updated = Held(
            held.email,
            payload._replace(
                code_id=code_id,
                code_mac=site.marks.code_mac(code_id, code),
                code_expires=min(now + CODE_LIFETIME, payload.until),
            ),
        )
        reply = self.view.ask(updated, return_to, sent_again=resend)
        return reply._replace(headers=[*reply.headers, (b"set-cookie", self.holds.reseal(scope, updated))])


def _scrub(text: str, code: str) -> str:
    """An error's text for the log, bounded, without the code (should a mailer echo it)."""
    return " ".join(text.replace(code, "******").split())[:300]
