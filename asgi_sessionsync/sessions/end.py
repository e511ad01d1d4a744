"""Ending sessions here, and the app's own logins that go with them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from asgi_sessionsync.hooks import Hooks, SignedOut
from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.sessions.active import TOUCH_EVERY, ActiveSession
from asgi_sessionsync.stores import Stores, normalize_email
from asgi_sessionsync.stores.versions import UserChange
from asgi_sessionsync.validation import printable


class SessionEnder:
    """Ending sessions here, and the app's own logins that go with them."""

    def __init__(
        self,
        stores: Stores,
        log: SiteLog,
        end_app_login: Callable[[str], Awaitable[None]] | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        """``end_app_login`` ends the app's own login by its reference
        (``SessionRecord.app_ref``) when the session it goes with ends here: the identity
        adapter's, when it is an ``AppLoginAdapter``; None when the app has no login of its
        own (or for a command line, which reaches no app)."""
        self.stores = stores
        self.log = log
        self.end_app_login = end_app_login
        self.hooks = hooks if hooks is not None else Hooks()

    async def end(self, sid: str, reason: str) -> None:
        """End one session here, quietly (peers are not told)."""
        record = await self.stores.sessions.get(sid) if self.end_app_login is not None else None
        if await self.stores.sessions.end(sid, reason=reason, when=time.time()) and record and record.app_ref:
            await self.end_app_logins([record.app_ref])

    async def end_chain(self, session: ActiveSession, *, reason: str, when: float) -> int:
        """End this browser's sessions here: the user's sessions of ``session``'s chain."""
        return await self.end_sessions(session.user, reason=reason, when=when, chain=session.chain)

    async def end_user(self, email: str, *, reason: str, when: float) -> int:
        """End every session of a user here (every browser)."""
        return await self.end_sessions(email, reason=reason, when=when)

    async def apply_logout(
        self,
        email: str,
        *,
        chain: str | None,
        signed_out_at: float,
        issuer: str,
        reason: str | None = None,
        seen_before: float | None = None,
    ) -> int:
        """A peer said a user signed out (or, with ``reason``, that a session of theirs
        ended for it: idle, limit, revoked). A chain's sign-out ends every session of that
        chain whatever the clocks say (its issuing session is gone: no newer session can
        join it); a sign-out of all the user's sessions (``chain`` None) ends those made
        before ``signed_out_at`` (this site's time), so a late message spares a newer login.
        With ``seen_before`` (an idle chain), only those not seen here after that time
        (within the one-minute granularity of ``last_seen_at``): a session still in use
        here stays, and goes idle here in its own time."""
        why = f"signed out on {issuer}"
        if reason:
            why = f"{printable(reason, 80)} (on {issuer})"
        ended = await self._apply_logout(email, why, chain, signed_out_at, issuer, seen_before)
        if ended:
            told = SignedOut(self.log.site, normalize_email(email), why, ended, issuer, everywhere=chain is None)
            await self.hooks.emit(told)
        return ended

    async def _apply_logout(
        self, email: str, why: str, chain: str | None, signed_out_at: float, issuer: str, seen_before: float | None
    ) -> int:
        if seen_before is None or chain is None:
            before = signed_out_at if chain is None else None
            if chain is None:  # every sign-in of the user until then is void here, wherever it comes from
                await self.void(email, signed_out_at, issuer)
            return await self.end_sessions(email, reason=why, when=time.time(), chain=chain, created_before=before)
        ended = 0
        for record in await self.stores.sessions.active(email):
            idle_here = record.chain == chain and record.last_seen_at <= seen_before + TOUCH_EVERY
            if idle_here and await self.stores.sessions.end(record.sid, reason=why, when=time.time()):
                ended += 1
                if record.app_ref is not None:
                    await self.end_app_logins([record.app_ref])
        return ended

    async def end_sessions(
        self, email: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        """End the user's active sessions here (of ``chain``; created up to ``created_before``)
        and the app logins that went with them."""
        refs = await self.app_refs(email, chain=chain, created_before=created_before)
        ended = await self.stores.sessions.end_user(
            normalize_email(email), reason=reason, when=when, chain=chain, created_before=created_before
        )
        await self.end_app_logins(refs)
        return ended

    async def void(self, email: str, when: float, origin: str) -> None:
        """The user's sessions all ended at ``when`` (a password change, a sign-out
        everywhere): any sign-in of the user made before it is void here, so a peer that
        still vouches for one (it has not heard yet, or may not end sessions) cannot sign
        the user in again by a catch-up or a frame. Kept with the user (nothing for a
        user this site does not have)."""
        ms = int(when * 1000)
        address = normalize_email(email)
        change = UserChange(address, UserAction.UPDATE, origin, ms, now=when, void_before_ms=ms)
        await self.stores.users.apply(change)

    async def app_refs(self, email: str, *, chain: str | None = None, created_before: float | None = None) -> list[str]:
        """The app logins of the user's active sessions (of ``chain``, created up to
        ``created_before``): what ending those sessions must end too. Empty when the app
        has no login of its own."""
        if self.end_app_login is None:
            return []
        return [
            r.app_ref
            for r in await self.stores.sessions.active(email)
            if r.app_ref is not None
            and (chain is None or r.chain == chain)
            and (created_before is None or r.created_at <= created_before)
        ]

    async def end_app_logins(self, refs: Iterable[str]) -> None:
        """End these app logins on the app's side. A failure is logged (never the
        reference) and does not stop the rest: the registry refuses such a login anyway
        when it comes back, since its session has ended."""
        end = self.end_app_login
        if end is None:
            return
        for ref in dict.fromkeys(refs):
            try:
                await end(ref)
            except Exception as error:
                kind = type(error).__name__
                self.log.error("ending the app's own login failed (%s); it is refused when it comes back", kind)

    async def app_login_ended(self, ref: str) -> bool:
        """Whether the app login ``ref`` went with a session that has ended (or outlived
        its lifetime): such a login is dead, never adopted again."""
        record = await self.stores.sessions.find_by_app_ref(ref)
        return record is not None and not record.live(time.time())
