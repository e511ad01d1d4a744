"""A, auto mode: the ``bounce`` step, for the peers whose frame failed."""

from __future__ import annotations

from starlette.types import Scope

from asgi_sessionsync.endpoints.reply import Reply, page, redirect
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.i18n import N_
from asgi_sessionsync.protocol import BouncePayload
from asgi_sessionsync.urls import safe_return


class Bounce:
    """Starts a chain through the peers whose frame sign-in failed."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.site = kit.site
        self.log = kit.log

    async def bounce(self, scope: Scope, cookies: bytes | None, token: str, peers: str) -> Reply:
        site = self.site
        ip = site.address.bind_value(scope)
        try:
            _, state = site.tokens.open_message(token, BouncePayload, ip=ip)
        except EnvelopeError as error:
            self.log.warning("bounce refused: %s", error.reason)
            return page(400, N_("This link is not valid"), N_("Signing in on the other sites was skipped."))
        back = safe_return(state.return_url, site.site_id) or site.settings.site_url + "/"
        current = await self.kit.current(scope, cookies)
        if current is None or current.sid != state.sid:
            return redirect(back)
        wanted = [o for o in peers.split() if o]
        away = site.answering.unreachable(cookies)
        first = await site.answering.start_chain(current, return_url=back, ip=ip, origins=wanted, away=away)
        return redirect(first or back)
