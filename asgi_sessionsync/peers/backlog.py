"""What waits in the outbox for each peer after failing, and saying so while it lasts (#22).

A peer whose deliveries keep failing must be visible, not only as one line per attempt:

- :func:`backlogs` sums up the pending messages per peer (:class:`Backlog`: how many are
  queued, how many failed at least once, the age of the oldest, the most attempts and the
  last error); ``peers check`` shows it per peer.
- :class:`BacklogWatch`, fed by the courier's worker with the pending messages it reads
  anyway (every :data:`~asgi_sessionsync.peers.courier.RECOVERY_EVERY` seconds), logs a
  WARNING when a peer first has messages that failed, again every :data:`WARN_EVERY`
  seconds while it has, each with the count and the age of what is queued, and one INFO
  line when none waits after a failure any more (delivered, or abandoned: each of those
  says itself which).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.stores import OutboxMessage

WARN_EVERY = 300.0  # seconds between two warnings about one peer's failing queue


@dataclass(frozen=True, slots=True)
class Backlog:
    """The pending messages of one peer."""

    peer: str
    queued: int
    failing: int  # of those, how many failed at least once
    oldest_at: float  # when the oldest was queued (epoch seconds)
    attempts: int  # the most attempts of any
    last_error: str  # of the message with the most attempts

    def age(self, now: float) -> float:
        return max(0.0, now - self.oldest_at)

    def describe(self, now: float) -> str:
        """``3 message(s) queued, 3 failing, the oldest 12 min old (attempt 7, last error: …)``."""
        age = duration(self.age(now))
        if not self.failing:
            return f"{self.queued} message(s) queued, none failed yet, the oldest {age} old"
        return (
            f"{self.queued} message(s) queued, {self.failing} failing, the oldest {age} old "
            f"(attempt {self.attempts}, last error: {self.last_error or 'unknown'})"
        )


def backlogs(pending: Iterable[OutboxMessage]) -> dict[str, Backlog]:
    """The pending messages summed up per peer (only peers with some)."""
    grouped: dict[str, list[OutboxMessage]] = {}
    for message in pending:
        grouped.setdefault(message.peer, []).append(message)
    made = {}
    for peer, messages in grouped.items():
        worst = max(messages, key=lambda m: (m.attempts, m.created_at))
        made[peer] = Backlog(
            peer,
            queued=len(messages),
            failing=sum(m.attempts > 0 for m in messages),
            oldest_at=min(m.created_at for m in messages),
            attempts=worst.attempts,
            last_error=worst.last_error or "",
        )
    return made


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclass
class _Episode:
    since: float  # when the peer was first seen with failing messages
    warned_at: float
    most: int  # the most messages queued meanwhile


class BacklogWatch:
    """The repeating warning about each peer whose queued messages keep failing."""

    def __init__(self, log: SiteLog) -> None:
        self.log = log
        self._episodes: dict[str, _Episode] = {}

    def observe(self, pending: Iterable[OutboxMessage], now: float) -> None:
        """Every pending message of the outbox, read at ``now`` (epoch seconds)."""
        failing = {peer: b for peer, b in backlogs(pending).items() if b.failing}
        for peer, backlog in sorted(failing.items()):
            episode = self._episodes.get(peer)
            if episode is None:
                self._episodes[peer] = _Episode(now, now, backlog.queued)
                self._warn(backlog, now, first=True)
                continue
            episode.most = max(episode.most, backlog.queued)
            if now - episode.warned_at >= WARN_EVERY:
                episode.warned_at = now
                self._warn(backlog, now, first=False, since=episode.since)
        for peer in sorted(set(self._episodes) - set(failing)):
            episode = self._episodes.pop(peer)
            self.log.info(
                "peer %s: no message waits for it after a failure any more (the backlog lasted %s, at most %d "
                "message(s))",
                peer,
                duration(now - episode.since),
                episode.most,
            )

    def _warn(self, backlog: Backlog, now: float, *, first: bool, since: float = 0.0) -> None:
        self.log.warning(
            "peer %s: %s%s; the worker keeps trying (python -m asgi_sessionsync peers check says why; said again "
            "every %s while it lasts)",
            backlog.peer,
            backlog.describe(now),
            "" if first else f", failing for {duration(now - since)}",
            duration(WARN_EVERY),
        )
