"""A answers a peer's request with the session this browser has here: the ``authorize`` step."""

from __future__ import annotations

import time

from starlette.types import Scope

from asgi_sessionsync.endpoints.reply import Reply, page, redirect, text
from asgi_sessionsync.endpoints.step_kit import NOT_VALID, SKIPPABLE, StepKit, refused
from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure
from asgi_sessionsync.protocol import ChainPayload, RequestPayload
from asgi_sessionsync.sessions import ActiveSession
from asgi_sessionsync.urls import safe_return


class Authorize:
    """Seals the hop that answers a peer's sign-in request (or forwards a catch-up)."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.site = kit.site
        self.log = kit.log

    async def authorize(self, scope: Scope, cookies: bytes | None, token: str) -> Reply:
        site = self.site
        ip = site.address.bind_value(scope)
        nobody = False
        try:
            claims, request = site.tokens.open_message(token, RequestPayload, ip=ip)
        except EnvelopeError as error:
            if error.claims is None or error.reason not in SKIPPABLE:
                self.log.warning("sign-in request refused: %s", error.reason)
                return refused(error.reason)
            self.log.info("sign-in request answered with nobody (%s)", error.reason)
            claims, nobody = error.claims, True
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
        if asker.origin not in site.answering.sends_to and not nobody:
            self.log.info(
                "sign-in request of %s answered with nobody: login is not sent to it (network file)", asker.origin
            )
            nobody = True
        session = None if nobody else await self.kit.current(scope, cookies)
        if session is not None and (
            not session.shared or (session.network is not None and session.network != network.name)
        ):
            session = None  # a login that stays here, or came from another network: not vouched for
        next_url = await self._onward_of_chain(request.chain, session, ip)
        headers = self.kit.frame_headers(request.mode)
        if session is None and request.then is not None and not nobody:
            # Catch-up: nobody here; ask the next peer (a URL the asking peer sealed).
            onward = safe_return(request.then.url, self.kit.members)
            if onward is not None:
                return redirect(f"{onward}?q={request.then.token}", headers)
        if session is not None:
            headers.append((b"set-cookie", site.cookies.delete(self.kit.names.pending)))  # its sync is under way
        await site.health.offset(entry)  # the hop is sealed in the asking site's time
        url = site.answering.answer(
            asker,
            network.name,
            request=request,
            user=session.user if session else "",
            chain=session.chain if session else "",
            name=session.name if session else "",
            next_url=next_url,
            ip=ip,
            email_verified=session.email_verified if session else False,
            age=time.time() - session.signed_in_at if session and session.signed_in_at else None,
        )
        if session is not None:
            await site.activity.login_sent(asker.origin, session.user)
        return redirect(url, headers)

    async def _onward_of_chain(self, chain_token: str | None, session: ActiveSession | None, ip: str) -> str | None:
        """For a sign-in this site is carrying: where the browser goes after the asking peer."""
        if not chain_token:
            return None
        try:
            _, chain = self.site.tokens.open_message(chain_token, ChainPayload, ip=ip)
        except EnvelopeError as error:
            self.log.info("sign-in chain note refused (%s); the chain ends at the asking site", error.reason)
            return None
        if session is None or session.sid != chain.sid:
            # The session that started the chain is gone (signed out meanwhile): send the
            # browser home, signing no one in on the way.
            return safe_return(chain.return_url, self.site.origin)
        return await self.site.answering.onward(chain, session, ip)
