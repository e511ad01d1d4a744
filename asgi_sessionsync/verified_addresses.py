"""Addresses verified here, per issuer: the register an operator reads and changes
(``python -m asgi_sessionsync verified …``), an app marks at registration
(:func:`asgi_sessionsync.mark_verified`), and the sign-in paths ask.

A mark is for an address *and* an issuer (the origin whose sign-ins it covers; this
site's own origin for its logins), never the address alone (issue #20). A mark says
``verified`` or, set by hand, *not verified*: then the issuer's word (``ev`` in its hop,
or this site's app's ``email_verified``) is not taken for that address, and
``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL`` refuses (``issuer``) or asks for a code (``self``);
a code typed then marks it verified again. A mark counts from the next sign-in: sessions
made already keep what they said (end them with ``sessions revoke``). Every mark made or
revoked is written to the activity log (direction ``here``, kind ``verify.mark`` or
``verify.revoke``, the issuer as its peer).

Marks made before the register existed (issue #26) are HMAC-named marks in the replay
cache; they are still read (verified, when the register has nothing for the pair) and
released by a revoke, and a year after the upgrade none is left.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from asgi_sessionsync.activity import ActivityRecorder
from asgi_sessionsync.stores.base import Direction, Outcome
from asgi_sessionsync.stores.messages import ReplayCache
from asgi_sessionsync.stores.verified import VerifiedBy, VerifiedMark, VerifiedStore
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.validation import email_or_none

REMEMBER_FOR = 365 * 86400  # seconds an address verified here is remembered
_LEGACY_BYTES = 16  # the replay-cache marks of before #26: HMAC prefixes under the "verify" key


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


class VerifiedAddresses:
    """The register (a :class:`VerifiedStore`) with the marks of before it, and the log."""

    def __init__(
        self,
        tokens: Tokens,
        register: VerifiedStore,
        replay: ReplayCache,
        activity: ActivityRecorder,
        issuers: Iterable[str],
    ) -> None:
        self.tokens = tokens
        # Who may carry a sign-in here: this site's origin first, then its peers'.
        self.issuers = tuple(dict.fromkeys(issuers))
        self.register = register
        self.replay = replay
        self.activity = activity

    def _legacy(self, email: str, issuer: str) -> list[bytes]:
        data = b"asgi-sessionsync verify\x00" + b"\x00".join((b"verified", email.encode(), issuer.encode()))
        return [mac[:_LEGACY_BYTES] for mac in self.tokens.macs("verify", data)]

    async def verdict(self, email: str, issuer: str) -> bool | None:
        """True: verified for sign-ins ``issuer`` carries; False: marked not verified (the
        issuer's word is not taken); None: no mark (the issuer's word decides)."""
        mark = await self.register.get(email, issuer)
        if mark is not None:
            return mark.verified
        for legacy in self._legacy(email, issuer):
            if await self.replay.seen(legacy):
                return True
        return None

    async def remembered(self, email: str, issuer: str) -> bool:
        """Whether ``email`` is verified for sign-ins ``issuer`` carries (a mark says so)."""
        return await self.verdict(email, issuer) is True

    async def mark(
        self,
        email: str,
        issuer: str,
        *,
        verified: bool = True,
        by: VerifiedBy,
        lasts: float = REMEMBER_FOR,
        actor: str = "",
    ) -> VerifiedMark:
        """Mark ``email`` verified (or not) for ``issuer``'s sign-ins for ``lasts`` seconds
        (``actor``: the console's operator who did it, for the activity log)."""
        address = email_or_none(email)
        if address is None:
            raise ValueError(f"not an email address: {email!r}")
        now = time.time()
        mark = VerifiedMark(address, issuer, verified, by, now, now + lasts)
        await self.register.put(mark)
        what = "verified" if verified else "not verified"
        await self.activity.record(
            Direction.LOCAL,
            peer=issuer,
            kind="verify.mark",
            user=address,
            outcome=Outcome.APPLIED,
            reason=f"{what}, by {by} until {_when(mark.until)}",
            actor=actor,
        )
        return mark

    async def remember(self, email: str, issuer: str, by: VerifiedBy = VerifiedBy.CODE) -> None:
        """``email`` was just verified for ``issuer``'s sign-ins (a code, the app)."""
        await self.mark(email, issuer, by=by)

    async def revoke(self, email: str, issuer: str | None = None, *, actor: str = "") -> int:
        """Forget the mark of (``email``, ``issuer``), or every mark of ``email``
        (``issuer`` None). How many marks were in force."""
        address = email_or_none(email)
        if address is None:
            raise ValueError(f"not an email address: {email!r}")
        count = await self.register.delete(address, issuer)
        for origin in [issuer] if issuer is not None else self.issuers:
            released = [await self.replay.release(legacy) for legacy in self._legacy(address, origin)]
            count += any(released)
        await self.activity.record(
            Direction.LOCAL,
            peer=issuer or "",
            kind="verify.revoke",
            user=address,
            outcome=Outcome.APPLIED,
            reason=f"{count} mark(s) revoked" + ("" if issuer else " (every issuer)"),
            actor=actor,
        )
        return count
