"""The activity log's recorder: one object per site, ``site.activity``.

Every cross-site message is recorded once it has an outcome: the courier's deliveries
(what the peer answered: ``applied``, ``already applied``, ``stale``, ``refused``; or
``delivered`` when it did not say; ``failed``, ``abandoned``), the back-channel messages received
(``applied``, ``already applied``, ``refused``), sign-ins sent to a peer in a hop
(``sent``) and sign-ins arriving by hop (``applied``, ``refused``). Nothing is recorded
on a request that carries no cross-site message, so the signed-in hot path never
writes here.

Recording never breaks the message flow: a store that fails or hangs (more than
:data:`WRITE_LIMIT` seconds) costs a warning, at most one a minute, and the message
goes on as if nothing had been recorded. What is recorded is chosen here and only
here: origins, a normalized email, a kind, an outcome, a short reason and an outbox
id; never a token, a cookie, a password hash or a secret.

A failing delivery is retried for days; each failed attempt is recorded only when its
number is a power of two (1, 2, 4, 8, …), so a peer down for three days leaves about
ten lines per message, not hundreds. The final outcome is always recorded.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.protocol import USER, from_outbox_form, message_kind, user_action_of
from asgi_sessionsync.stores.base import (
    ActivityEntry,
    ActivityLog,
    Direction,
    OutboxMessage,
    Outcome,
    new_id,
    normalize_email,
)
from asgi_sessionsync.validation import email_or_none, printable

if TYPE_CHECKING:
    from asgi_sessionsync.envelope import Claims
    from asgi_sessionsync.peers.delivery import Delivery

logger = package_log("asgi_sessionsync.activity")

WRITE_LIMIT = 2.0  # seconds a record may take before the message flow goes on without it
WARN_EVERY = 60.0  # seconds between two warnings about a failing activity store
MAX_REASON = 200  # characters of a reason kept
_OUTBOX_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def kind_of(kind: str, payload: Mapping[str, Any] | None = None) -> str:
    """The kind the log shows: ``logout``, ``login``, or ``user.<action>`` for a user
    action (wire kind ``user`` with its action ``a``)."""
    if kind == USER and payload is not None:
        action = user_action_of(payload)
        if action is not None:
            return f"user.{printable(action, 32)}"
    return printable(kind, 32) if kind else ""


def _attempt_worth_recording(attempt: int) -> bool:
    return attempt > 0 and attempt & (attempt - 1) == 0


@dataclass
class Receipt:
    """What the receiver learns of one back-channel message, filled as it goes; recorded
    once the answer is known (``outcome`` set)."""

    peer: str = ""
    user: str = ""
    kind: str = ""
    message_id: str = ""
    outcome: Outcome | None = None
    reason: str = ""

    def about(self, claims: Claims) -> None:
        """What an authentic envelope says: who sent it, about whom, of what kind."""
        self.peer = claims.issuer
        self.user = email_or_none(claims.subject) or ""  # not an email: not shown
        raw = message_kind(claims.extra)
        self.kind = kind_of(raw, claims.extra) if raw is not None else "?"
        jti = claims.jti.decode("latin-1")
        self.message_id = jti if _OUTBOX_ID.fullmatch(jti) else ""  # the sender's outbox id

    def done(self, outcome: Outcome, reason: str = "") -> None:
        self.outcome, self.reason = outcome, reason


class ActivityRecorder:
    """Writes :class:`ActivityEntry` rows for one site; off when ``log`` is ``None``."""

    def __init__(self, site: str, log: ActivityLog | None) -> None:
        self.site = site
        self.log = log
        self._warned_at = float("-inf")
        self._say = site_log(logger.name, site)
        # Hops refused as not asked by this browser, recorded already (the last 1024): a
        # captured hop URL opened again and again is one entry, not a flood.
        self._unasked: OrderedDict[bytes, None] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.log is not None

    async def record(
        self,
        direction: Direction,
        *,
        peer: str,
        kind: str,
        user: str,
        outcome: Outcome,
        reason: str = "",
        message_id: str = "",
        actor: str = "",
    ) -> None:
        """Record one message's outcome (or, ``Direction.LOCAL``, an action ``actor`` took
        here through the console). Never raises and never waits long."""
        if self.log is None:
            return
        entry = ActivityEntry(
            id=new_id(),
            at=time.time(),
            site=self.site,
            direction=direction,
            peer=peer,
            kind=kind,
            user=normalize_email(user) if user else "",
            outcome=outcome,
            reason=printable(reason, MAX_REASON) if reason else "",
            message_id=message_id,
            actor=normalize_email(actor) if actor else "",
        )
        await self._write(entry)

    async def _write(self, entry: ActivityEntry) -> None:
        assert self.log is not None
        problem = ""
        try:
            with anyio.move_on_after(WRITE_LIMIT) as scope:
                await self.log.record([entry])
            if scope.cancelled_caught:
                problem = f"no answer in {WRITE_LIMIT:g} s"
        except StoreUnavailable:
            return  # the store's availability said so once, and counts what failed
        except Exception as error:  # recording must never break the message flow
            problem = f"{type(error).__name__}: {error}"
        if problem:
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY:
                self._warned_at = now
                self._say.warning(
                    "activity log: an entry was not recorded (%s); messages go on (repeats not logged for a minute)",
                    problem,
                )

    # -- the courier ------------------------------------------------------------------------

    async def delivery(self, delivery: Delivery) -> None:
        """One delivery attempt of an outbox message (see the module's note on retries)."""
        message = delivery.message
        attempt = message.attempts + 1
        if delivery.delivered:
            # What the peer said became of it; "delivered" when it did not say (an older peer).
            outcome = Outcome(delivery.answer) if delivery.answer else Outcome.DELIVERED
            why = ["by the peer (its log says why)"] if outcome is Outcome.REFUSED else []
            reason = ", ".join([*why, *([f"attempt {attempt}"] if attempt > 1 else [])])
        elif delivery.abandoned:
            outcome, reason = Outcome.ABANDONED, delivery.error
        elif _attempt_worth_recording(attempt):
            outcome, reason = Outcome.FAILED, f"{delivery.error} (attempt {attempt})"
        else:
            return
        await self.outbox_message(message, outcome, reason)

    async def outbox_message(self, message: OutboxMessage, outcome: Outcome, reason: str = "") -> None:
        """An outbox message's outcome (also an operator's drop)."""
        user, _ = from_outbox_form(message.kind, message.payload)
        await self.record(
            Direction.SENT,
            peer=message.peer,
            kind=kind_of(message.kind, message.payload),
            user=user,
            outcome=outcome,
            reason=reason,
            message_id=message.id,
        )

    # -- the receiver -----------------------------------------------------------------------

    async def received(self, receipt: Receipt) -> None:
        """A back-channel message, once answered."""
        if receipt.outcome is None:
            return
        await self.record(
            Direction.RECEIVED,
            peer=receipt.peer,
            kind=receipt.kind,
            user=receipt.user,
            outcome=receipt.outcome,
            reason=receipt.reason,
            message_id=receipt.message_id,
        )

    # -- sign-in steps ----------------------------------------------------------------------

    async def login_sent(self, peer: str, user: str) -> None:
        """This site vouched for ``user`` in a hop for ``peer`` (the browser carries it)."""
        await self.record(Direction.SENT, peer=peer, kind="login", user=user, outcome=Outcome.SENT)

    async def login_unasked(self, peer: str, user: str, jti: bytes) -> None:
        """A hop this browser did not ask for (no bind cookie): refused; recorded once per hop."""
        if jti in self._unasked:
            return
        self._unasked[jti] = None
        if len(self._unasked) > 1024:
            self._unasked.popitem(last=False)
        await self.login_received(peer, user, refused="not asked by this browser")

    async def arrived(self, peer: str, user: str, via: str, refused: str, *, held: bool, code: bool) -> None:
        """What became of a sign-in a peer vouched for (``via``: ``hop from …``, ``frame from …``)."""
        how = via.partition(" from ")[0] + (" after a code" if code else "")
        await self.login_received(peer, user, refused=refused, reason=f"by {how}", held=held)

    async def login_received(
        self, peer: str, user: str, *, refused: str = "", reason: str = "", held: bool = False
    ) -> None:
        """A sign-in a peer vouched for arrived (by hop, or after a code): applied, held
        for a code, or refused with a reason."""
        outcome = Outcome.REFUSED if refused else Outcome.HELD if held else Outcome.APPLIED
        await self.record(
            Direction.RECEIVED, peer=peer, kind="login", user=user, outcome=outcome, reason=refused or reason
        )


def recorder(site: str, log: ActivityLog | None, *, enabled: bool = True) -> ActivityRecorder:
    """The recorder of a site: writing to ``log`` when ``enabled`` (``SESSIONSYNC_ACTIVITY_LOG``)."""
    return ActivityRecorder(site, log if enabled else None)
