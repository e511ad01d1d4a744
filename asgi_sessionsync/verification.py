"""Verified emails: whether a peer's sign-in may start a session here, and this site's
own check of an address by a mailed code (``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL``).

- ``off``: a peer's word is enough (the behaviour before verification existed).
- ``issuer``: the peer must say it verified the address (``ev`` in its hop); otherwise
  nobody is signed in here and the chain goes on.
- ``self``: an address the peer did not verify is verified here: the sign-in is held
  (a cookie, no session), a 6-digit code is mailed, and the code page completes it.

Where the state lives. The held sign-in and the code now out (its HMAC, never the code)
are in the held cookie, an envelope only this site opens, bound to the client address.
What must hold across processes and must not be reset by replaying an old cookie is
kept as single-use marks in a MarkStore (stores/messages.py; the built-in backends keep
them beside the replay cache), whose contract (exactly one concurrent
``use`` of an id wins, in every backend) is what the limits need: one mark per try of a
code (at most five), one per completed hold, one per code sent in the last 30 seconds
and five per hour for each address. The marks are HMACs under this site's ``verify``
key, so the store learns no address and no code. An address verified here is kept in
the register of verified addresses (:mod:`asgi_sessionsync.verified_addresses`) for a
year, for the site whose sign-in it was verified for (the address and the issuer
together, never the address alone), and sign-ins of that address from that site are
not asked again in that time.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from asgi_sessionsync.stores.messages import MarkStore
from asgi_sessionsync.tokens import Tokens

CODE_LIFETIME = 15 * 60  # seconds a mailed code is good for
HOLD_LIFETIME = 30 * 60  # seconds a held sign-in waits for its code (and the held cookie lives)
MAX_TRIES = 5  # tries of one code, right or wrong; then a new code is needed
RESEND_GAP = 30  # seconds between two codes sent to one address
SENDS_PER_HOUR = 5  # codes sent to one address in any hour
CODE_DIGITS = 6
_LABEL = "verify"
_MARK_BYTES = 16


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def clean_code(text: str) -> str | None:
    """What the user typed, as six digits (spaces and dashes dropped), or None."""
    digits = "".join(c for c in text if c not in " -\t")
    return digits if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() else None


class SendRefusal(NamedTuple):
    """Why no code was sent now: too soon after the last one, or too many this hour."""

    reason: str  # "gap" or "hour"


class Marks:
    """The single-use marks of verification, over a :class:`MarkStore` (see the module)."""

    def __init__(self, tokens: Tokens, replay: MarkStore, clock: Callable[[], float] = time.time) -> None:
        self.tokens = tokens
        self.replay = replay
        self.clock = clock

    def _ids(self, *parts: bytes) -> list[bytes]:
        data = b"asgi-sessionsync verify\x00" + b"\x00".join(parts)
        return [mac[:_MARK_BYTES] for mac in self.tokens.macs(_LABEL, data)]

    def _id(self, *parts: bytes) -> bytes:
        return self._ids(*parts)[0]

    def code_mac(self, code_id: bytes, code: str) -> bytes:
        """What the held cookie keeps of a code: its HMAC, bound to the code's id."""
        return self.tokens.macs(_LABEL, b"code\x00" + code_id + b"\x00" + code.encode("ascii"))[0]

    def code_matches(self, code_id: bytes, code: str, mac: bytes) -> bool:
        data = b"code\x00" + code_id + b"\x00" + code.encode("ascii")
        return any(hmac.compare_digest(m, mac) for m in self.tokens.macs(_LABEL, data))

    # -- limits ----------------------------------------------------------------------------

    async def take_send(self, email: str) -> SendRefusal | None:
        """Take the right to mail a code to ``email`` now; None when taken, else why not.

        The hourly limit is taken before sending, atomically, so that no number of
        concurrent requests mails more than :data:`SENDS_PER_HOUR` codes an hour to an
        address (a send that then fails counts too). The 30-second gap starts when a
        code was sent (:meth:`sent`): a failed send can be retried at once."""
        now = self.clock()
        address = email.encode("utf-8")
        if await self.replay.seen(self._id(b"gap", address)):
            return SendRefusal("gap")
        for k in range(SENDS_PER_HOUR):
            if await self.replay.use(self._id(b"sent", address, bytes([k])), now + 3600):
                return None
        return SendRefusal("hour")

    async def sent(self, email: str) -> None:
        """A code went out to ``email``: the next one not before :data:`RESEND_GAP`."""
        await self.replay.use(self._id(b"gap", email.encode("utf-8")), self.clock() + RESEND_GAP)

    async def take_try(self, code_id: bytes, until: float) -> bool:
        """Take one of the code's :data:`MAX_TRIES` tries; False when none is left."""
        for k in range(MAX_TRIES):
            if await self.replay.use(self._id(b"try", code_id, bytes([k])), until):
                return True
        return False

    async def finish(self, hold_id: bytes, until: float) -> bool:
        """Mark the hold done; True for the one request that completes it."""
        return await self.replay.use(self._id(b"done", hold_id), until)

    async def finished(self, hold_id: bytes) -> bool:
        return await self.replay.seen(self._id(b"done", hold_id))
