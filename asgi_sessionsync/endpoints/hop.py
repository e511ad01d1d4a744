"""B: the answer arrives, the ``hop`` step; and where a step sends the browser on."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from starlette.types import Scope

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.arrival import Arrivals
from asgi_sessionsync.endpoints.asking import BIND_LIFETIME, RETURN_LIFETIME, SPEAKS, return_mark, take_bind
from asgi_sessionsync.endpoints.frames import result_reply
from asgi_sessionsync.endpoints.held import Arrival
from asgi_sessionsync.endpoints.reply import Headers, Reply, page, redirect, text
from asgi_sessionsync.endpoints.step_kit import SKIPPABLE, StepKit, refused
from asgi_sessionsync.envelope import Claims
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.i18n import N_
from asgi_sessionsync.protocol import Endpoint, HopPayload, Mode
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.urls import origin_of, safe_return
from asgi_sessionsync.validation import email_or_none


def _late(error: EnvelopeError) -> str:
    """Why an authentic hop was not taken, in a few words."""
    if error.reason is EnvelopeFailure.EXPIRED:
        return "its hop arrived past its lifetime (SESSIONSYNC_HOP_LIFETIME)"
    if error.reason is EnvelopeFailure.IP_MISMATCH:
        return "the browser's address changed during the sign-in"
    return f"its hop was refused ({error.reason})"


class Hop:
    """Checks a hop against this browser's bind cookie and signs its user in here
    (through :class:`~asgi_sessionsync.endpoints.arrival.Arrivals`)."""

    def __init__(self, kit: StepKit, arrivals: Arrivals) -> None:
        self.kit = kit
        self.site = kit.site
        self.log = kit.log
        self.arrivals = arrivals

    async def hop(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        try:
            claims, hop = site.tokens.open_message(token, HopPayload, ip=site.address.bind_value(scope))
        except EnvelopeError as error:
            skipped = HopPayload.from_wire(error.claims.extra) if error.claims and error.reason in SKIPPABLE else None
            if skipped is not None and error.claims is not None:
                # Authentic, but late (or for another address): nobody is signed in here by
                # it; the chain goes on, and this site's catch-up asks at the next page view.
                user = email_or_none(error.claims.subject)
                if user is not None:
                    await site.answering.left_out.peers([error.claims.issuer], user, _late(error), here=True)
                else:
                    self.log.info("sign-in hop skipped here (%s); chain continues", error.reason)
                return self._go_on(skipped, error.claims.issuer, [])
            self.log.warning("sign-in hop refused: %s", error.reason)
            return refused(error.reason)
        if not self.kit.navigates(scope, hop.mode):
            self.log.warning("sign-in hop refused: not a navigation; nobody signed in")
            return text(400, "not a navigation", self.kit.frame_headers(hop.mode))
        name = self.kit.names.bind
        nonce, rest = take_bind(find_cookie(cookies, name), hop.bind)
        policy = self.kit.bind_policy[hop.mode]
        headers: Headers = [(b"set-cookie", policy.set(name, rest, BIND_LIFETIME) if rest else policy.delete(name))]
        if nonce is not None and hop.next_url is None and hop.return_url is not None and hop.mode is Mode.PAGE:
            headers.append(self._return_mark(hop, claims.issuer, speaks=nonce.startswith(SPEAKS)))
        if nonce is None:
            self.log.warning("sign-in hop refused: this browser did not ask for it (bind cookie missing or other)")
            if claims.subject:
                await site.activity.login_unasked(claims.issuer, email_or_none(claims.subject) or "", claims.jti)
            if hop.next_url is None and hop.mode is Mode.PAGE:
                # Maybe a client that keeps no cookies: a link, not a redirect, so it cannot loop.
                onward = safe_return(hop.return_url, site.site_id) or self.kit.home
                return page(200, N_("Continue"), N_("Signing in on this site was skipped."), link=onward)
            return self._go_on(hop, claims.issuer, headers)
        if not await site.stores.replay.use(claims.jti, claims.expires_at + site.settings.clock_skew):
            self.log.info("sign-in hop skipped here (already used); chain continues")
            return self._go_on(hop, claims.issuer, headers)
        session = None
        if claims.subject:
            session, cookies_set, held = await self._sign_in_here(scope, cookies, claims, hop)
            headers += cookies_set
            if held and hop.mode is Mode.PAGE:
                # The code page, at once: this is a top-level step. (In a frame, the next
                # top-level visit shows it; the frame reports that nobody is signed in.)
                return redirect(self.kit.verify_url, headers)
        return self._go_on(hop, claims.issuer, headers, signed_in=session is not None)

    def _return_mark(self, hop: HopPayload, issuer: str, *, speaks: bool) -> tuple[bytes, bytes]:
        """The end of a catch-up: its return to the page is judged as the navigation that
        started it was (``response/login.py``), not as the redirect it comes by."""
        mark = return_mark(self._onward(hop, issuer), speaks=speaks)
        return (b"set-cookie", self.site.cookies.set(self.kit.names.returned, mark, RETURN_LIFETIME))

    def _go_on(self, hop: HopPayload, issuer: str, headers: Headers, *, signed_in: bool = False) -> Reply:
        if hop.mode is Mode.FRAME:
            return result_reply(self.kit.frame_ancestors, signed_in, self.site.site_id, origin_of(issuer), headers)
        return redirect(self._onward(hop, issuer), headers)

    def _onward(self, hop: HopPayload, issuer: str) -> str:
        """Where a top-level hop sends the browser on: the issuer's next step, else back."""
        return (
            safe_return(hop.next_url, issuer)
            or self._next_pull(hop.next_url)
            or safe_return(hop.return_url, self.site.site_id)
            or self.kit.home
        )

    def onward(self, url: str | None, issuer: str) -> str | None:
        """``url`` when a sign-in step may send the browser there: a page of the issuer, the
        next peer's ``pull``, or a page of this site."""
        return safe_return(url, issuer) or self._next_pull(url) or safe_return(url, self.site.site_id)

    def _next_pull(self, url: str | None) -> str | None:
        """The next step of a chain the issuer is carrying: another site's ``pull`` (maybe
        one this site does not know, in another of the issuer's networks). Nothing but a
        ``pull`` step, so that no peer can use this site as an open redirect."""
        if url is None or safe_return(url, origin_of(url)) is None:
            return None
        path = urlsplit(url).path
        return url if path.endswith(self.site.prefix + Endpoint.PULL) else None

    async def _sign_in_here(
        self, scope: Scope, cookies: bytes | None, claims: Claims, hop: HopPayload
    ) -> tuple[ActiveSession | None, Headers, bool]:
        """Make the user a peer vouches for signed in here; return the session, its
        cookies, and whether the sign-in is held instead, until this site has verified
        the address (the held cookie is then among the cookies)."""
        issuer = claims.issuer
        via = f"{'frame' if hop.mode is Mode.FRAME else 'hop'} from {issuer}"
        email = email_or_none(claims.subject)
        if email is None:
            self.log.warning("sign-in from %s refused: the peer vouched for something that is not an email", issuer)
            await self.site.activity.login_received(issuer, "", refused="not an email")
            return None, [], False
        signed_in_at = time.time() - hop.age if hop.age is not None else None
        # A catch-up's request names where to come back to; a chain's pull does not.
        catch_up = hop.mode is Mode.PAGE and hop.return_url is not None
        arrival = Arrival(
            email, hop.name, issuer, claims.network, hop.chain, via, hop.email_verified, signed_in_at, catch_up
        )
        session, headers, hold = await self.arrivals.arrive(scope, cookies, arrival)
        if hold:
            onward = None if hop.mode is Mode.FRAME else self._onward(hop, issuer)
            headers = [(b"set-cookie", self.kit.holds.hold(scope, arrival, onward=onward, mode=hop.mode))]
        return session, headers, hold
