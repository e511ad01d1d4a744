"""Daily counts of what a site sees beside its sessions (issue #26): failed logins the app
reports, spam sessions, user changes made here or applied from a peer.

A count is a number per UTC day, per ``kind`` and ``key`` from a small vocabulary (see
:mod:`asgi_sessionsync.site_counts`): never an email, an address or a token, so counts
outlive purges and erasures of what they counted, as the sessions' daily counts do. One
contract for every backend (``tests/stores/test_contract_counts.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

DAY = 86400.0
KEEP_DAYS = 400  # how far back a count is kept at least (the analytics show 400 days at most)

# The vocabulary: kind, and the keys each takes.
LOGIN_FAILED = "login.failed"  # the app said a login failed: "known account" or "unknown account"
KNOWN, UNKNOWN = "known account", "unknown account"
SPAM = "session.spam"  # a session started that counts as spam: "burst" or "bot or script"
BURST, SCRIPTED = "burst", "bot or script"
USER = "user."  # + a user-sync action (create, update, password, role, meta, delete): "here" or "peer"
HERE, PEER = "here", "peer"


class DayCount(NamedTuple):
    """``n`` events of ``kind`` (``key``) on the UTC day ``day`` (days since the epoch)."""

    day: int
    kind: str
    key: str
    n: int


def day_number(at: float) -> int:
    return int(at // DAY)


class EventCounts(Protocol):
    """Counters per UTC day. Adding is atomic (two processes adding at once add both)."""

    async def add(self, kind: str, key: str, at: float, n: int = 1) -> None:
        """Add ``n`` to the count of ``kind`` and ``key`` on the UTC day of ``at``."""
        ...

    async def read(self, since: float, until: float) -> list[DayCount]:
        """The counts of the UTC days from ``since``'s through ``until``'s, in no
        particular order, each (day, kind, key) once; none that are zero."""
        ...


class MemoryEventCounts:
    """Counts in this process's memory (the memory store; a ``Stores`` built by hand)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[int, str, str]] = Counter()

    async def add(self, kind: str, key: str, at: float, n: int = 1) -> None:
        self.counts[(day_number(at), kind, key)] += n

    async def read(self, since: float, until: float) -> list[DayCount]:
        first, last = day_number(since), day_number(until)
        return [DayCount(d, k, key, n) for (d, k, key), n in self.counts.items() if first <= d <= last and n]


def _utc_day(number: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(number * DAY))


@dataclass
class EventFigures:
    """What the counts say of a period: failed logins (by known or unknown account), spam
    sessions (by why), user changes (by action, then here or from a peer), and per UTC day
    (``YYYY-MM-DD``) the failed logins, password changes and deletions."""

    failed_logins: dict[str, int] = field(default_factory=dict)
    spam_sessions: dict[str, int] = field(default_factory=dict)
    user_changes: dict[str, dict[str, int]] = field(default_factory=dict)
    days: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total_failed(self) -> int:
        return sum(self.failed_logins.values())

    @property
    def total_spam(self) -> int:
        return sum(self.spam_sessions.values())

    def changes(self, action: str) -> int:
        return sum(self.user_changes.get(action, {}).values())

    @property
    def password_resets(self) -> int:
        return self.changes("password")

    def as_dict(self) -> dict[str, Any]:
        return {
            "failed_logins": self.failed_logins,
            "total_failed_logins": self.total_failed,
            "spam_sessions": self.spam_sessions,
            "total_spam_sessions": self.total_spam,
            "password_resets": self.password_resets,
            "user_changes": self.user_changes,
            "days": self.days,
        }


_DAILY = {LOGIN_FAILED: "failed logins", USER + "password": "password resets", USER + "delete": "deleted"}


def figures_of(counts: list[DayCount]) -> EventFigures:
    """The :class:`EventFigures` of what :meth:`EventCounts.read` returned."""
    failed: Counter[str] = Counter()
    spam: Counter[str] = Counter()
    changes: dict[str, Counter[str]] = {}
    days: dict[str, Counter[str]] = {}
    for day, kind, key, n in counts:
        if kind == LOGIN_FAILED:
            failed[key] += n
        elif kind == SPAM:
            spam[key] += n
        elif kind.startswith(USER):
            changes.setdefault(kind[len(USER) :], Counter())[key] += n
        if kind in _DAILY:
            days.setdefault(_utc_day(day), Counter())[_DAILY[kind]] += n
    return EventFigures(
        failed_logins=dict(sorted(failed.items())),
        spam_sessions=dict(sorted(spam.items())),
        user_changes={action: dict(sorted(c.items())) for action, c in sorted(changes.items())},
        days={day: dict(c) for day, c in sorted(days.items())},
    )
