"""Account statistics (issue #26): the users of this site by role and by who provisioned
them, how many addresses are verified, and the accounts created per day of a period.

Computed once for every backend: by the user store itself where it can count
(:class:`AccountCounting`: SQL aggregates in SQLite), otherwise from its users a page at
a time (:meth:`UserStore.list_users`, at most ``AccountStats.MAX_ROWS``; ``truncated`` says
when there were more). No email leaves this module: only counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from asgi_sessionsync.stores.base import Stores, User
from asgi_sessionsync.stores.stats import DAY, day_of

HERE = ""  # provisioned_by of an account made on this site (not provisioned by a peer)


@dataclass
class AccountStats:
    """The users now (``users``, ``roles``, ``provisioned_by``: ``""`` for accounts made on
    this site, else the origin of the peer that vouched), the addresses with a verified
    mark in force for some issuer (``verified``), and the accounts created on each UTC day
    from ``since``'s through ``until``'s (``created``, by ``YYYY-MM-DD``; a deleted
    account is no longer counted)."""

    MAX_ROWS = 200_000  # users a Python-computing backend looks at, at most

    users: int = 0
    roles: dict[str, int] = field(default_factory=dict)
    provisioned_by: dict[str, int] = field(default_factory=dict)
    verified: int = 0
    created: dict[str, int] = field(default_factory=dict)
    truncated: bool = False

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "roles": self.roles,
            "provisioned_by": self.provisioned_by,
            "verified": self.verified,
            "created": self.created,
            "total_created": self.total_created,
            "truncated": self.truncated,
        }


@runtime_checkable
class AccountCounting(Protocol):
    """An optional fast path of a user store: the counts of :class:`AccountStats` from the
    store's own aggregates (``verified`` is counted apart, from the register)."""

    async def account_stats(self, since: float, until: float) -> AccountStats: ...


def period_days(since: float, until: float) -> tuple[float, float]:
    """The start of ``since``'s UTC day and the end of ``until``'s, as every figure counts."""
    return (since // DAY) * DAY, (max(since, until - 1e-6) // DAY + 1) * DAY


class AccountsBuilder:
    """Accumulates :class:`AccountStats` from users (the memory and Redis stores)."""

    def __init__(self, since: float, until: float) -> None:
        self.start, self.end = period_days(since, until)
        self.roles: Counter[str] = Counter()
        self.provisioned: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.users = 0

    def add(self, user: User) -> None:
        self.users += 1
        self.roles[user.role] += 1
        self.provisioned[user.provisioned_by or HERE] += 1
        if self.start <= user.created_at < self.end:
            self.created[day_of(user.created_at)] += 1

    def build(self, *, truncated: bool = False) -> AccountStats:
        def ranked(counts: Counter[str]) -> dict[str, int]:
            return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

        return AccountStats(
            users=self.users,
            roles=ranked(self.roles),
            provisioned_by=ranked(self.provisioned),
            created=dict(sorted(self.created.items())),
            truncated=truncated,
        )


async def account_stats(stores: Stores, since: float, until: float) -> AccountStats:
    """The :class:`AccountStats` of this site for the UTC days from ``since``'s through ``until``'s."""
    users = stores.users
    if isinstance(users, AccountCounting):
        stats = await users.account_stats(since, until)
    else:
        builder, after, truncated = AccountsBuilder(since, until), None, False
        while True:
            page = await users.list_users(limit=1000, after=after)
            for user in page:
                builder.add(user)
            if len(page) < 1000:
                break
            if builder.users >= AccountStats.MAX_ROWS:
                truncated = True
                break
            after = page[-1].email
        stats = builder.build(truncated=truncated)
    marks = await stores.verified.list(limit=AccountStats.MAX_ROWS)
    stats.verified = len({m.email for m in marks if m.verified})
    stats.truncated = stats.truncated or len(marks) >= AccountStats.MAX_ROWS
    return stats
