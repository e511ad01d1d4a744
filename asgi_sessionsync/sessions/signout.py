"""A sign-out, here and on every peer: the one home of that flow.

Two kinds: this browser's (its chain: the laptop, not the phone) and everywhere (every
session of the user, every browser; a password change, a revocation, ``sign_out(...,
everywhere=True)``). Each ends the sessions here first, the app's own logins with them,
then writes one outbox message per peer (the courier delivers them, waiting at most
``SESSIONSYNC_LOGOUT_WAIT``). A sign-out everywhere also makes every earlier sign-in of
the user void here, so that a peer that has not heard yet cannot bring one back.

When the store does not answer, the sign-out is refused (:class:`StoreUnavailable` goes
up to the request, which answers a 503): but when the store may have carried it out all
the same (a Redis command that took too long), the peers are told anyway, so that what
may have ended here ends there too.
"""

from __future__ import annotations

import time

from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.hooks import Hooks, SignedOut
from asgi_sessionsync.peers import Courier
from asgi_sessionsync.sessions.end import SessionEnder
from asgi_sessionsync.stores import normalize_email


class SignOuts:
    """Signs users out here and on the peers (see the module's doc)."""

    def __init__(self, endings: SessionEnder, courier: Courier, origin: str, hooks: Hooks | None = None) -> None:
        self.endings = endings
        self.courier = courier
        self.origin = origin
        self.hooks = hooks if hooks is not None else Hooks()

    async def this_browser(self, email: str, chain: str, *, reason: str = "signed out") -> None:
        """End this browser's sessions (one chain) here with the app logins that went with
        them, and tell every peer to end theirs."""
        now = time.time()
        refs = await self.endings.app_refs(email, chain=chain)
        try:
            ended = await self.endings.stores.sessions.end_user(email, reason=reason, when=now, chain=chain)
        except StoreUnavailable as error:
            await self._tell_peers_anyway(error, email, chain, now)
            raise
        await self.courier.broadcast_logout(email, chain=chain, when=now)
        await self.endings.end_app_logins(refs)
        if ended:
            await self.hooks.emit(SignedOut(self.origin, normalize_email(email), reason, ended))

    async def everywhere(self, email: str, *, reason: str, wait: bool = True) -> int:
        """End every session of a user here (all browsers) and on every peer, and make
        every sign-in of the user made until now void (:meth:`SessionEnder.void`; peers do
        the same when the sign-out arrives). ``reason`` goes to the peers' history too;
        how many sessions ended here. Peers that do not confirm within ``logout_wait`` get
        the message from the outbox later (the site's running worker retries it);
        ``wait`` False: not waited for at all (a caller that waits for a message sent
        after it, in the same queues)."""
        now = time.time()
        address = normalize_email(email)
        try:
            await self.endings.void(email, now, self.origin)
            count = await self.endings.end_user(email, reason=reason, when=now)
        except StoreUnavailable as error:
            await self._tell_peers_anyway(error, address, None, now)
            raise
        await self.courier.broadcast_logout(address, chain=None, when=now, reason=reason, wait=wait)
        if count:
            await self.hooks.emit(SignedOut(self.origin, address, reason, count, everywhere=True))
        return count

    async def _tell_peers_anyway(self, error: StoreUnavailable, email: str, chain: str | None, when: float) -> None:
        """Ending the sessions here failed, but may have been done all the same (a store
        that did not answer in time may still carry it out): the peers are told, from the
        process if the outbox cannot take it; the browser is told its sign-out could not be
        confirmed (outage.py)."""
        if error.maybe_done:
            await self.courier.broadcast_logout(email, chain=chain, when=when, wait=False)
