"""Session analytics: the figures a store computes from its registry, and their vocabulary.

Every backend returns a :class:`SessionStats`. SQLite computes it with SQL aggregates;
the memory and Redis stores feed their rows to :class:`StatsBuilder` (bounded by
``SessionStats.MAX_ROWS``). The raw ``via`` and ``end_reason`` texts are grouped into a
few categories here, once, so every backend and every report says the same.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asgi_sessionsync.stores.records import SessionRecord

DAY = 86400.0
BLOCKED = "blocked"  # end_reason prefix of a refused sign-in (recorded, never a session)

# How a session started: via → category.
HOW = ("here", "via a peer", "adopted")
# Why a session ended: end_reason → category, in display order.
REASONS = (
    "signed out here",
    "signed out on a peer",
    "revoked",
    "expired",
    "idle",
    "limit",
    "replaced",
    "app login ended",
    "other",
)


def how_of(via: str) -> str:
    if via.startswith(("hop from", "frame from")):
        return "via a peer"
    if via.startswith("adopted"):
        return "adopted"
    return "here"


def reason_of(reason: str) -> str:
    """The category of an ``end_reason`` (``blocked`` for a refused sign-in)."""
    if reason.startswith(BLOCKED):
        return BLOCKED
    if reason == "signed out":
        return "signed out here"
    if reason.startswith("signed out on "):
        return "signed out on a peer"
    for category in ("revoked", "expired", "idle", "limit", "replaced"):
        if reason.startswith(category):
            return category
    if reason.startswith("signed in again"):
        return "replaced"
    if reason.startswith("app login"):
        return "app login ended"
    return "other"


def day_of(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


@dataclass
class DayCounts:
    day: str  # UTC date, YYYY-MM-DD
    logins: int = 0
    ends: int = 0
    blocked: int = 0


@dataclass
class SessionStats:
    """Figures over whole UTC days: from the start of the day of ``since`` through the
    day of ``until`` (``since`` here is that start); active ones at ``until``.

    - ``logins``: sessions started in the period by how (here, via a peer, adopted);
      refused sign-ins are not logins, they are ``blocked``.
    - ``active_sessions`` / ``active_users``: sessions not ended and not past their
      lifetime at ``until``, and their distinct users.
    - ``ended``: sessions that ended in the period, by reason category.
    - ``devices`` / ``countries``: sessions started in the period by device class and by
      country (the ``top`` most frequent; the rest summed as "(others)"; "" is unknown).
    - ``clients``: sessions started in the period by client type (browser, library, bot,
      other; "" for sessions recorded before client types were).
    - ``days``: per UTC day, logins, ends and blocked sign-ins.
    - ``turnover``: sessions that ended in the period per session that was active in it
      (``ended / (active + ended)``): 0 when nothing ended, 1 when nothing is left.
    """

    MAX_ROWS = 200_000  # rows a Python-computing backend looks at, at most

    since: float
    until: float
    logins: dict[str, int] = field(default_factory=dict)
    blocked: int = 0
    active_sessions: int = 0
    active_users: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    clients: dict[str, int] = field(default_factory=dict)
    days: list[DayCounts] = field(default_factory=list)
    truncated: bool = False

    @property
    def total_logins(self) -> int:
        return sum(self.logins.values())

    @property
    def total_ended(self) -> int:
        return sum(self.ended.values())

    @property
    def turnover(self) -> float:
        ended = self.total_ended
        return ended / (self.active_sessions + ended) if ended else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "logins": self.logins,
            "total_logins": self.total_logins,
            "blocked": self.blocked,
            "active_sessions": self.active_sessions,
            "active_users": self.active_users,
            "ended": self.ended,
            "total_ended": self.total_ended,
            "turnover": round(self.turnover, 4),
            "devices": self.devices,
            "countries": self.countries,
            "clients": self.clients,
            "days": [vars(d) for d in self.days],
            "truncated": self.truncated,
        }


def _top(counts: Mapping[str, int], top: int) -> dict[str, int]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:top])
    rest = sum(n for _, n in ranked[top:])
    if rest:
        kept["(others)"] = rest
    return kept


def device_class(device: str) -> str:
    return device.split("/", 1)[0] if device else ""


def client_type_of(device: str) -> str:
    """The client type of a stored device (``class/browser/os/client type``); "" before
    client types were recorded."""
    parts = device.split("/")
    return parts[3] if len(parts) == 4 else ""


def _ordered(counts: Mapping[str, int], order: Iterable[str]) -> dict[str, int]:
    known = list(order)
    return {k: counts[k] for k in sorted(counts, key=lambda k: (known.index(k) if k in known else len(known), k))}


def _days(
    since: float, until: float, logins: Mapping[str, int], ends: Mapping[str, int], blocked: Mapping[str, int]
) -> list[DayCounts]:
    """One entry per UTC day of the period, empty days included (at most 400)."""
    result: list[DayCounts] = []
    start = int(since // DAY)
    stop = int(max(since, until - 1e-6) // DAY)
    for number in range(max(start, stop - 399), stop + 1):
        day = day_of(number * DAY)
        result.append(DayCounts(day, logins.get(day, 0), ends.get(day, 0), blocked.get(day, 0)))
    return result


class StatsBuilder:
    """Accumulates :class:`SessionStats` from records (memory and Redis stores), and
    from already grouped counts (SQLite)."""

    def __init__(self, since: float, until: float, top: int) -> None:
        # Whole UTC days: from the start of the day of ``since`` to the end of the day of
        # ``until`` (rows do not come from the future); active sessions at ``until``.
        self.since = (since // DAY) * DAY
        self.day_until = (max(since, until - 1e-6) // DAY + 1) * DAY
        self.until, self.top = until, top
        self.how: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.devices: Counter[str] = Counter()
        self.countries: Counter[str] = Counter()
        self.clients: Counter[str] = Counter()
        self.day_logins: Counter[str] = Counter()
        self.day_ends: Counter[str] = Counter()
        self.day_blocked: Counter[str] = Counter()
        self.blocked = 0
        self.active_sessions = 0
        self.active_users: set[str] = set()
        self.active_user_count: int | None = None
        self.rows = 0
        self.truncated = False

    def started(self, via: str, reason: str | None, device: str, country: str, created_at: float, n: int = 1) -> None:
        """``n`` sessions that started (or were refused) at ``created_at`` in the period."""
        if reason is not None and reason.startswith(BLOCKED):
            self.blocked += n
            self.day_blocked[day_of(created_at)] += n
            return
        self.how[how_of(via)] += n
        self.devices[device_class(device)] += n
        self.clients[client_type_of(device)] += n
        self.countries[country] += n
        self.day_logins[day_of(created_at)] += n

    def counted_start(self, via: str, at: float, n: int) -> None:
        """``n`` sessions that started on the day of ``at`` (device and country counted apart)."""
        self.how[how_of(via)] += n
        self.day_logins[day_of(at)] += n

    def ended(self, reason: str, ended_at: float, n: int = 1) -> None:
        category = reason_of(reason)
        if category == BLOCKED:
            return
        self.reasons[category] += n
        self.day_ends[day_of(ended_at)] += n

    def record(self, r: SessionRecord) -> bool:
        """Count one record; False once ``MAX_ROWS`` were seen (the caller stops)."""
        if self.rows >= SessionStats.MAX_ROWS:
            self.truncated = True
            return False
        self.rows += 1
        if self.since <= r.created_at < self.day_until:
            self.started(r.via, r.end_reason, r.device, r.country, r.created_at)
        if r.ended_at is not None and r.end_reason is not None and self.since <= r.ended_at < self.day_until:
            self.ended(r.end_reason, r.ended_at)
        if (
            r.created_at < self.until
            and (r.ended_at is None or r.ended_at >= self.until)
            and (r.expires_at is None or r.expires_at >= self.until)
            and not (r.end_reason or "").startswith(BLOCKED)
        ):
            self.active_sessions += 1
            self.active_users.add(r.user)
        return True

    def build(self) -> SessionStats:
        return SessionStats(
            since=self.since,
            until=self.until,
            logins=_ordered(self.how, HOW),
            blocked=self.blocked,
            active_sessions=self.active_sessions,
            active_users=self.active_user_count if self.active_user_count is not None else len(self.active_users),
            ended=_ordered(self.reasons, REASONS),
            devices=_top(self.devices, self.top),
            countries=_top(self.countries, self.top),
            clients=_top(self.clients, self.top),
            days=_days(self.since, self.until, self.day_logins, self.day_ends, self.day_blocked),
            truncated=self.truncated,
        )
