"""Once means once: each back-channel message id applied once, in every process sharing the
store, however many copies of it come (a sender retries while this site is frozen; they
all arrive when it wakes).

Before a message is applied its id is *claimed*: the replay cache's atomic ``use`` of the
id with a suffix, for :data:`CLAIM_LEASE` seconds; exactly one of any number of copies,
in any process, wins it. The winner applies the message, records the id itself as applied
for :data:`APPLIED_MESSAGE_MEMORY` and gives the claim back. A copy that finds the id
applied is answered "already applied". A copy that loses the claim waits (at most
:data:`CLAIM_WAIT`) for the winner: in this process for its end, in another by looking
for the applied id; then it is "already applied", or, if the winner has not finished or
failed, ``409`` (the sender tries again later; not a 5xx, which would call this site
down). A winner whose applying fails (the store went down) gives the claim back, so the
sender's next copy applies it; a winner that dies half-way leaves its claim to run out
after the lease.

Applying a message twice can only happen when the store fails between applying it and
recording it as applied: then the sender's next copy applies it again, which changes
nothing for a sign-out (its sessions are ended already) or a user change (a stale version).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from asgi_sessionsync.activity import Receipt
from asgi_sessionsync.endpoints.reply import Reply, text
from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores import Outcome

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

APPLIED_MESSAGE_MEMORY = 7 * 86400.0  # how long a peer message id is remembered as applied
CLAIM_LEASE = 30.0  # seconds a claim holds if its holder never gives it back (a crash)
CLAIM_WAIT = 2.0  # seconds a copy waits for the copy that is applying the message
_CLAIM = b"\x00applying"  # the claim's id: the message id and this

ALREADY_APPLIED = text(200, "already applied")
BEING_APPLIED = text(409, "being applied: try again")


class AppliedOnce:
    """Claims, applies and records back-channel message ids (one per site)."""

    def __init__(self, site: Site) -> None:
        self.site = site  # its stores change when it is opened again
        self._applying: dict[bytes, anyio.Event] = {}  # ids this process is applying now

    async def __call__(self, jti: bytes, receipt: Receipt, apply: Callable[[], Awaitable[Reply]]) -> Reply:
        """Apply the message ``jti`` by ``apply()`` unless it was, or is being, applied."""
        replay = self.site.stores.replay
        if await replay.seen(jti):
            return _already(receipt)
        claim = jti + _CLAIM
        if not await replay.use(claim, time.time() + CLAIM_LEASE):
            return await self._wait(jti, receipt)
        done = self._applying[jti] = anyio.Event()
        try:
            if await replay.seen(jti):  # applied by a copy that finished between the two looks
                return _already(receipt)
            reply = await apply()
            if reply.status < 300:  # applied, or refused by the rules: never to be applied again
                await replay.use(jti, time.time() + APPLIED_MESSAGE_MEMORY)
            return reply
        finally:
            del self._applying[jti]
            done.set()
            with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
                await replay.release(claim)  # if the store cannot now, the lease runs out

    async def _wait(self, jti: bytes, receipt: Receipt) -> Reply:
        """Another copy holds the claim: wait for it, then say what became of the message."""
        replay = self.site.stores.replay
        here = self._applying.get(jti)
        with anyio.move_on_after(CLAIM_WAIT):
            if here is not None:
                await here.wait()
            else:  # applied by another process: look for it now and then
                while not await replay.seen(jti):  # noqa: ASYNC110 - another process: no event to wait on
                    await anyio.sleep(0.05)
        if await replay.seen(jti):
            return _already(receipt)
        return BEING_APPLIED  # not recorded: what becomes of it is recorded with a later copy


def _already(receipt: Receipt) -> Reply:
    receipt.done(Outcome.ALREADY_APPLIED)
    return ALREADY_APPLIED
