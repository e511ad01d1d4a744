"""A peer that a sign-in's chain leaves out: never silent (issue #23).

A chain leaves a peer out when the peer failed its health check just before the browser
was to be sent there, or when a step of the chain came too late to be taken (a browser, a
network or a site so slow that an envelope outlived what it may: see ``authorize.py``),
or when the browser's address changed on the way. The peer is then not signed in by the
chain; its first-visit catch-up (``catchup.py``) signs the browser in there at its next
page view. Each one is a WARNING that names the peer, the user and the reason (repeats of
one peer and reason within :data:`REPEAT_EVERY` seconds are counted into the next line, so
that a peer down during a rush of sign-ins is a few lines, not one per sign-in), and one
activity log entry per sign-in (``left out``, with the reason).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from asgi_sessionsync.activity import ActivityRecorder
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.stores.records import Direction, Outcome

logger = package_log("asgi_sessionsync.endpoints")

REPEAT_EVERY = 10.0  # seconds: one line per peer and reason, the repeats counted into the next
CAUGHT_UP = "its first-visit catch-up signs the browser in there at its next page view"


class LeftOut:
    """Says each peer a chain leaves out: the log and the activity log (see the module's doc)."""

    def __init__(self, origin: str) -> None:
        self.log = site_log(logger.name, origin)
        # The site's recorder; set by the site whenever it (re)opens its stores.
        self.activity: ActivityRecorder | None = None
        self._said: dict[tuple[str, str], tuple[float, int]] = {}

    async def peers(self, peers: Iterable[str], user: str, reason: str, *, here: bool = False) -> None:
        """``peers`` were left out of ``user``'s sign-in chain for ``reason`` (a few words).
        ``here``: this site is the one left out (a hop it could not take), so the entry is
        a received one, and the line says so."""
        for peer in peers:
            self._say(peer, user, reason, here=here)
            if self.activity is not None:
                await self.activity.record(
                    Direction.RECEIVED if here else Direction.SENT,
                    peer=peer,
                    kind="login",
                    user=user,
                    outcome=Outcome.LEFT_OUT,
                    reason=f"{reason}; caught up at its next page view",
                )

    def _say(self, peer: str, user: str, reason: str, *, here: bool) -> None:
        now = time.monotonic()
        key = (peer, reason)
        said_at, repeats = self._said.get(key, (float("-inf"), 0))
        if now - said_at < REPEAT_EVERY:
            self._said[key] = (said_at, repeats + 1)
            return
        self._said[key] = (now, 0)
        if len(self._said) > 1024:  # bounded: the oldest lines are forgotten
            self._said.pop(next(iter(self._said)))
        more = f" ({repeats} more sign-in(s) left out for that since the last line)" if repeats else ""
        if here:
            self.log.warning(
                "sign-in of %s from %s left out here: %s; %s%s",
                user,
                peer,
                reason,
                CAUGHT_UP.replace("there", "here"),
                more,
            )
        else:
            self.log.warning("sign-in of %s not carried to %s: %s; %s%s", user, peer, reason, CAUGHT_UP, more)
