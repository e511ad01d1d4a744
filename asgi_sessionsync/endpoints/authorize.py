"""A answers a peer's request with the session this browser has here: the ``authorize`` step.

A step of a chain this site carries that comes late (its chain note, or the asking peer's
request, past ``SESSIONSYNC_HOP_LIFETIME``: a slow browser, network or site) is still
taken up to :data:`~asgi_sessionsync.endpoints.answering.LATE_STEP_LIMIT` seconds after
it was sealed, since neither grants anything by itself: the session is read here, live,
and must be the one the note names. Later than that, or for another address, the peers
still to visit are left out (:mod:`.left_out`: a WARNING and the activity log; their
first-visit catch-up signs the browser in there) and the browser goes back to the page it
asked for: a chain never ends silently.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from starlette.types import Scope

from asgi_sessionsync.claims import Claims
from asgi_sessionsync.endpoints.reply import Reply, page, redirect, text
from asgi_sessionsync.endpoints.step_kit import NOT_VALID, SKIPPABLE, StepKit, refused
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.protocol import ChainPayload, RequestPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.urls import safe_return

_WHY = {
    EnvelopeFailure.IP_MISMATCH: "the browser's address changed during the sign-in",
    EnvelopeFailure.NOT_YET_VALID: "a step of the sign-in was dated in the future (a clock set back?)",
}


class ChainStep(NamedTuple):
    """What the chain note of a request says here: where the browser goes after the
    asking peer (None: the asking peer decides); whether the chain is this browser's
    session's (its note, late or not, names the session read here now); and whether it
    goes on (its note taken, in time)."""

    next_url: str | None
    ours: bool = False
    goes_on: bool = False


class Authorize:
    """Seals the hop that answers a peer's sign-in request (or forwards a catch-up)."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.site = kit.site
        self.log = kit.log

    async def authorize(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        ip = site.address.bind_value(scope)
        late: EnvelopeError | None = None  # the request is authentic, but not to be taken as it is
        try:
            claims, request = site.tokens.open_message(token, RequestPayload, ip=ip)
        except EnvelopeError as error:
            if error.claims is None or error.reason not in SKIPPABLE:
                self.log.warning("sign-in request refused: %s", error.reason)
                return refused(error.reason)
            claims, late = error.claims, error
            try:
                request = site.tokens.read(claims, RequestPayload)
            except EnvelopeError:
                return page(400, *NOT_VALID)
        entry = site.answering.peer(claims.issuer)
        if entry is None:
            return refused(EnvelopeFailure.WRONG_ISSUER)
        if not self.kit.navigates(scope, request.mode):
            self.log.warning("sign-in request refused: not a navigation")
            return text(400, "not a navigation", self.kit.frame_headers(request.mode))
        network, asker = entry
        sends = asker.site_id in site.answering.sends_to
        if not sends and late is None:
            self.log.info(
                "sign-in request of %s answered with nobody: login is not sent to it (network file)", asker.site_id
            )
        session = await self.kit.current(scope, cookies) if sends else None
        if session is not None and (
            not session.shared or (session.network is not None and session.network != network.name)
        ):
            session = None  # a login that stays here, or came from another network: not vouched for
        step = await self._onward_of_chain(request.chain, session, ip, site.answering.unreachable(cookies))
        nobody = not sends
        if late is not None and not (step.goes_on and self._in_time(late, claims)):
            nobody = True
            self.log.info("sign-in request of %s answered with nobody (%s)", asker.site_id, late.reason)
            if step.ours and session is not None:
                await site.answering.left_out.peers([asker.site_id], session.user, self._why_late(late))
        vouched = None if nobody else session
        headers = self.kit.frame_headers(request.mode)
        if vouched is None and request.then is not None and not nobody:
            # Catch-up: nobody here; ask the next peer (a URL the asking peer sealed).
            onward = safe_return(request.then.url, self.kit.members)
            if onward is not None:
                return redirect(f"{onward}?q={request.then.token}", headers)
        if vouched is not None:
            headers.append((b"set-cookie", site.cookies.delete(self.kit.names.pending)))  # its sync is under way
        await site.health.offset(entry)  # the hop is sealed in the asking site's time
        url = site.answering.answer(
            asker,
            network.name,
            request=request,
            user=vouched.user if vouched else "",
            chain=vouched.chain if vouched else "",
            name=vouched.name if vouched else "",
            next_url=step.next_url,
            ip=ip,
            email_verified=vouched.email_verified if vouched else False,
            age=time.time() - vouched.signed_in_at if vouched and vouched.signed_in_at else None,
        )
        if vouched is not None:
            await site.activity.login_sent(asker.site_id, vouched.user)
        return redirect(url, headers)

    def _age(self, claims: Claims) -> float:
        return self.site.tokens.clock() - claims.issued_at

    def _in_time(self, error: EnvelopeError, claims: Claims) -> bool:
        """Whether a step refused for ``error`` is still taken in a live chain: one past
        its lifetime, by at most the limit (never one for another address)."""
        return error.reason is EnvelopeFailure.EXPIRED and self._age(claims) <= self.site.answering.late_limit

    def _why_late(self, error: EnvelopeError) -> str:
        if error.reason is EnvelopeFailure.EXPIRED:
            limit = self.site.answering.late_limit
            return f"a step of the sign-in reached this site more than {limit:g} s after it was made"
        return _WHY.get(error.reason, str(error.reason))

    async def _onward_of_chain(
        self, chain_token: str | None, session: ActiveSession | None, ip: str, away: frozenset[str]
    ) -> ChainStep:
        """For a sign-in this site is carrying: where the browser goes after the asking
        peer. A note past its lifetime still counts up to the limit (the session is
        checked live); past it, the peers still to visit are left out, said so, and the
        browser goes back to the page it asked for."""
        if not chain_token:
            return ChainStep(None)
        site = self.site
        try:
            claims, chain = site.tokens.open_message(chain_token, ChainPayload, ip=ip)
        except EnvelopeError as error:
            readable = error.claims is not None and error.reason in SKIPPABLE
            found = ChainPayload.from_wire(error.claims.extra) if readable and error.claims else None
            if found is None or error.claims is None:
                self.log.warning("sign-in chain note refused (%s); the chain ends at the asking site", error.reason)
                return ChainStep(None)
            claims, chain = error.claims, found
            if session is None or session.sid != chain.sid:
                return ChainStep(safe_return(chain.return_url, site.site_id))
            if not self._in_time(error, claims):
                await site.answering.left_out.peers(chain.peers, session.user, self._why_late(error))
                return ChainStep(safe_return(chain.return_url, site.site_id) or self.kit.home, ours=True)
            self.log.info(
                "sign-in chain note of %s taken %.0f s after it was made, past its lifetime: the chain goes on",
                session.user,
                self._age(claims),
            )
        if session is None or session.sid != chain.sid:
            # The session that started the chain is gone (signed out meanwhile): send the
            # browser home, signing no one in on the way.
            return ChainStep(safe_return(chain.return_url, site.site_id))
        return ChainStep(await site.answering.onward(chain, session, ip, away), ours=True, goes_on=True)
