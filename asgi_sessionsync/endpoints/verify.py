"""The code page (``/_sessionsync/verify``): a peer's sign-in held until this site has
verified the address by a mailed code. See :mod:`asgi_sessionsync.verification`.

GET shows the page, mailing the first code if none is out yet. POST (a form of that
page, CSRF-checked) does one of ``verify``, ``resend``, ``skip``. A right code starts the
session as the hop would have, and sends the browser where the hop would have gone
(or back to the page it was on, when the page was shown at a later visit).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import parse_qs, quote

import anyio
from starlette.types import Receive, Scope

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.code_send import CodeSender
from asgi_sessionsync.endpoints.code_view import CodeView
from asgi_sessionsync.endpoints.held import Arrival, Held, HeldCookies
from asgi_sessionsync.endpoints.receiver import _read_body
from asgi_sessionsync.endpoints.reply import Headers, Reply, page, redirect
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.i18n import N_
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.urls import header, origin_of, safe_return
from asgi_sessionsync.verification import clean_code

logger = package_log("asgi_sessionsync.verify")


FORM_EXPIRED = (N_("This form has expired"), N_("Reload the page and try again."))


class Arrive(Protocol):
    """``Arrivals.arrive``: a peer's sign-in arriving here, once its address is verified."""

    def __call__(
        self, scope: Scope, cookies: bytes | None, arrival: Arrival, *, code_checked: bool = False
    ) -> Awaitable[tuple[ActiveSession | None, Headers, bool]]: ...


class CodeCheck:
    """The code page of one site."""

    def __init__(self, kit: StepKit, arrive: Arrive, onward: Callable[[str | None, str], str | None]) -> None:
        """``arrive``: the arrival of a peer's sign-in (``Arrivals.arrive``), run once the
        code is right; ``onward``: where the browser goes then (``Hop.onward``)."""
        self.kit = kit
        self.arrive = arrive
        self.onward = onward
        self.site = site = kit.site
        self.holds: HeldCookies = kit.holds
        self.log = site_log(logger.name, site.site_id)
        self.action = kit.verify_url
        site_name = origin_of(site.settings.site_url).partition("://")[2]
        self.view = CodeView(self.action, self.holds, kit.home)
        self.send = CodeSender(site, self.holds, self.view, site_name)

    def page_url(self, return_to: str) -> str:
        """The code page, for a browser that comes back later (``return_to``: its page)."""
        return f"{self.action}?r={quote(return_to, safe='')}"

    async def __call__(self, scope: Scope, receive: Receive, cookies: bytes | None) -> Reply:
        held = self.holds.open(scope, cookies)
        present = find_cookie(cookies, self.holds.name) is not None
        if scope["method"] == "POST":
            form = await _form(receive)
            return_to = self._return_to(form.get("r", ""))
            if not self._same_origin(scope):
                self.log.warning("code page: a form post from another site refused")
                return page(403, *FORM_EXPIRED, link=self.action)
            if held is None:
                return self.view.gone(return_to, clear=present)
            if not _same(form.get("t", ""), held.payload.csrf):
                self.log.warning("code page: a form post refused (its token is not this hold's: a stale form)")
                return page(403, *FORM_EXPIRED, link=self.action)
            action = form.get("do", "")
            if action == "skip":
                self.log.info(
                    "sign-in of %s from %s: the user went on without it (not asked again by this browser's "
                    "catch-ups for %d s)",
                    held.email,
                    held.payload.issuer,
                    self.kit.declines.lifetime,
                )
                declined = self.kit.declines.decline(scope, held)
                return redirect(
                    self._onward(held, return_to), [(b"set-cookie", self.holds.clear()), (b"set-cookie", declined)]
                )
            if action == "resend":
                finished = await self._finished(scope, cookies, held)
                if finished is not None:
                    return redirect(self._onward(held, return_to), finished)
                return await self.send(scope, held, return_to, resend=True)
            return await self._check(scope, cookies, held, form.get("code", ""), return_to)
        return_to = self._return_to(_query(scope).get("r", ""))
        if held is None:
            return self.view.gone(return_to, clear=present)
        finished = await self._finished(scope, cookies, held)
        if finished is not None:
            return redirect(self._onward(held, return_to), finished)
        if held.payload.code_id is None:
            if not fetch_metadata(scope).is_navigation("GET"):
                return self.view.show(held, return_to, 200, "Verify your address", "Send a code to this address.")
            return await self.send(scope, held, return_to, resend=False)
        if held.payload.code_expires is not None and self.site.tokens.clock() > held.payload.code_expires:
            return self.view.expired(held, return_to)
        return self.view.ask(held, return_to)

    # -- the answers ---------------------------------------------------------------------

    async def _finished(self, scope: Scope, cookies: bytes | None, held: Held) -> Headers | None:
        """Headers that end the hold when there is nothing left to do: completed already
        (a back button), or this browser is signed in here by now. None otherwise."""
        if await self.site.marks.finished(held.payload.hold_id):
            return [(b"set-cookie", self.holds.clear())]
        current = await self.kit.current(scope, cookies)
        if current is not None:
            return [(b"set-cookie", self.holds.clear())]
        return None

    async def _check(self, scope: Scope, cookies: bytes | None, held: Held, typed: str, return_to: str) -> Reply:
        site = self.site
        payload = held.payload
        if payload.code_id is None or payload.code_mac is None or payload.code_expires is None:
            return self.view.show(held, return_to, 400, "Verify your address", "Ask for a code first.")
        if site.tokens.clock() > payload.code_expires:
            return self.view.expired(held, return_to, status=400)
        code = clean_code(typed)
        if code is None:
            return self.view.show(held, return_to, 400, "Enter your code", "The code is the 6 digits in the message.")
        if not await site.marks.take_try(payload.code_id, payload.code_expires + site.settings.clock_skew):
            self.log.warning("code page: too many tries of one code for %s", held.email)
            return self.view.show(
                held,
                return_to,
                429,
                "Too many tries",
                "That code can no longer be used. Ask for a new code.",
                code_form=False,
            )
        if not site.marks.code_matches(payload.code_id, code, payload.code_mac):
            self.log.info("code page: a wrong code for %s", held.email)
            return self.view.show(
                held,
                return_to,
                400,
                "That code is not right",
                "Check the message and try again, or ask for a new code. After 5 tries a code no longer works.",
            )
        if not await site.marks.finish(payload.hold_id, payload.until + site.settings.clock_skew):
            return redirect(self._onward(held, return_to), [(b"set-cookie", self.holds.clear())])
        await site.verified.remember(held.email, held.payload.issuer)
        self.log.info("code page: %s verified here", held.email)
        session, headers, _ = await self.arrive(scope, cookies, held.arrival(), code_checked=True)
        headers = [*headers, (b"set-cookie", self.holds.clear())]
        if session is None:
            return page(
                403,
                N_("Not signed in here"),
                N_(
                    "Your address is verified, but this site did not sign you in (its rules refused this sign-in). "
                    "You can sign in on this site directly."
                ),
                link=self._onward(held, return_to),
            )._replace(headers=headers)
        return redirect(self._onward(held, return_to), headers)

    # -- small rules ---------------------------------------------------------------------

    def _return_to(self, value: str) -> str:
        """A page of this site to come back to (given when the page was shown at a later
        visit); anything else is dropped."""
        return safe_return(value, self.site.site_id) or ""

    def _onward(self, held: Held, return_to: str) -> str:
        return return_to or self.onward(held.payload.onward, held.payload.issuer) or self.kit.home

    def _same_origin(self, scope: Scope) -> bool:
        """Whether a post comes from a page of this site: ``Sec-Fetch-Site`` when the
        browser sends it; else the ``Origin``. The code page is served with
        ``Referrer-Policy: no-referrer``, so its own posts say ``Origin: null``: that
        (or no header at all) is left to the form's token, which is required anyway."""
        meta = fetch_metadata(scope)
        if meta.site is not None:
            return meta.site == b"same-origin"
        origin = header(scope, b"origin")
        return not origin or origin == "null" or origin.lower() == self.site.origin


def _same(sent: str, expected: bytes) -> bool:
    return hmac.compare_digest(sent.encode("ascii", "replace"), base64.urlsafe_b64encode(expected))


async def _form(receive: Receive) -> dict[str, str]:
    body = None
    with anyio.move_on_after(10):
        body = await _read_body(receive)
    if not body or len(body) > 4096:
        return {}
    text = body.decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _query(scope: Scope) -> dict[str, str]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {k: v[0] for k, v in query.items()}
