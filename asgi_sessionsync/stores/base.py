"""Store protocols and the records they keep (defined in :mod:`.records`, importable here).

Five stores, each a :class:`typing.Protocol`: users, the session registry, the
replay cache of used envelope ids and the outbox of back-channel messages (their
protocols in :mod:`.messages`), and the activity log of cross-site messages (its
protocol in :mod:`.activity_log`). Every
backend (memory, SQLite, Redis) keeps exactly the contracts written here, and
``tests/stores/test_contract.py`` holds each backend to them, so callers never change
with the backend.

Conventions that hold for every method below:

* **Times** are epoch seconds as ``float`` (``time.time()``), given by the caller and
  stored exactly as given. A store reads the clock itself only where a method says so.
* **Emails** are keys in the spelling of :func:`normalize_email`; every method that
  takes an email normalizes it first, so ``"Ann@X.org "`` and ``"ann@x.org"`` are one.
* **Errors**: a store that cannot be reached, or whose data is unusable, raises
  :class:`~asgi_sessionsync.exceptions.StoreError`, never a driver's own exception.
  Messages name the store and the problem, never a token, a password hash or a payload.
  A store that cannot answer *now* (unreachable, full, read-only, damaged, locked) raises
  :class:`~asgi_sessionsync.exceptions.StoreUnavailable`, from ``Stores.availability``
  (one log line when it goes, one when it is back). A failed write writes nothing.
  Asking about something unknown (an id, a sid, an email) is not an error: the method
  returns ``None``, ``False`` or ``0`` as documented.
* **Idempotency**: every method that ends, finishes or deletes something can be
  repeated; the repetition changes nothing and reports ``0``/``False``.
* **Expiry and retention**: nothing is kept forever. Sessions past ``expires_at`` are
  ended by :meth:`SessionRegistry.expire`; ended sessions, finished messages,
  expired replay ids and old activity entries are deleted by the ``purge`` methods,
  which :meth:`Stores.purge` runs together. Backends that expire rows by themselves (Redis TTLs) may have deleted
  a row before ``purge`` is asked to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from asgi_sessionsync.stores.activity_log import ActivityLog
from asgi_sessionsync.stores.availability import Availability
from asgi_sessionsync.stores.event_counts import EventCounts, MemoryEventCounts
from asgi_sessionsync.stores.messages import Outbox, ReplayCache
from asgi_sessionsync.stores.records import (
    DROPPED_BY_OPERATOR,
    EXPIRED,
    PAGE_BUDGET,
    ActivityEntry,
    ActivityFilter,
    Direction,
    ImportCounts,
    MessageStatus,
    OutboxMessage,
    Outcome,
    SessionFilter,
    SessionKey,
    SessionPage,
    SessionRecord,
    SessionState,
    User,
    device_parts,
    finish_time,
    new_id,
    normalize_email,
    peer_of,
)
from asgi_sessionsync.stores.session_store import (
    SessionAdministration,
    SessionAnalytics,
    SessionPeek,
    SessionRegistry,
    SessionStore,
    administers,
)
from asgi_sessionsync.stores.verified import MemoryVerifiedStore, VerifiedStore

if TYPE_CHECKING:
    from asgi_sessionsync.stores.versions import Applied, Tombstone, UserChange

__all__ = [
    "DROPPED_BY_OPERATOR",
    "EXPIRED",
    "PAGE_BUDGET",
    "ActivityEntry",
    "ActivityFilter",
    "ActivityLog",
    "Closable",
    "Direction",
    "EventCounts",
    "ImportCounts",
    "MessageStatus",
    "Outbox",
    "OutboxMessage",
    "Outcome",
    "ReplayCache",
    "SessionAdministration",
    "SessionAnalytics",
    "SessionFilter",
    "SessionKey",
    "SessionPage",
    "SessionPeek",
    "SessionRecord",
    "SessionRegistry",
    "SessionState",
    "SessionStore",
    "Stores",
    "User",
    "UserStore",
    "device_parts",
    "finish_time",
    "new_id",
    "normalize_email",
    "peer_of",
]


class UserStore(Protocol):
    """The users of this site, keyed by normalized email."""

    async def get(self, email: str) -> User | None:
        """The user with this email, or ``None``."""
        ...

    async def create(self, user: User) -> User:
        """Insert ``user`` and return it as stored.

        The email is normalized; ``created_at == 0`` is stamped with the current time,
        any other value kept. If the email exists already nothing is written and the
        stored user is returned unchanged (so two processes provisioning one user at
        once both get the same row). Idempotent. A tombstone of the email (see
        :meth:`apply`) is left as it is: a user made here again later is newer than it.
        """
        ...

    async def list_users(
        self,
        *,
        role: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        after: str | None = None,
        prefix: str | None = None,
    ) -> list[User]:
        """Users by email ascending (``users export``, the console's list): only ``role``'s
        when given, only those whose email starts with ``prefix`` (normalized) when given,
        only those after the email ``after`` (normalized: the last of the previous page, a
        cursor) when given; of those, ``limit`` after ``offset``. For administration: a
        page by ``after`` and ``prefix`` starts at its place in the email order (an
        index), never loads every user; ``role`` is filtered on the way."""
        ...

    async def import_users(self, users: Sequence[User], *, replace: bool = False) -> ImportCounts:
        """Store many users (``users import``), emails and ``created_at`` as :meth:`create`; an
        existing email left as is (``skipped``) or with ``replace`` overwritten (``updated``);
        an email twice counts once, the later winning. All or none, in one round trip
        (SQLite: one ``executemany`` transaction off the loop; Redis: one script call)."""
        ...

    # -- user sync: versions per field group, tombstones ----------------------------------

    async def apply(self, change: UserChange) -> Applied:
        """Apply one change (this site's own, or a peer's) by version, atomically.

        The stored user and the email's tombstone are read, handed to
        :func:`~asgi_sessionsync.stores.versions.merge` with the change, and what it
        decides is written, all in one step that no concurrent ``apply``, ``create`` or
        writer in another process can interleave with (memory: no await in between;
        SQLite: one write transaction; Redis: WATCH/MULTI on the user's two keys, retried
        when either changed). Returns the outcome with the user as stored after it
        (``None`` when deleted or never made) and, for a change of this site's own
        (``change.version`` None), the version it was given. Idempotent: applying the
        same version again is ``stale`` and changes nothing.
        """
        ...

    async def tombstone(self, email: str) -> Tombstone | None:
        """The tombstone of a deleted user (its delete version, whether final), or ``None``."""
        ...

    async def purge_tombstones(self, deleted_before: float) -> int:
        """Delete tombstones of users deleted before ``deleted_before``, final ones excepted
        (kept until lifted); return how many this call deleted. Idempotent."""
        ...


class Closable(Protocol):
    async def close(self) -> None: ...


@dataclass
class Stores:
    """The five stores of one site, closed together (``activity`` None: nothing recorded).
    ``availability``: whether their backend answers (one per backend connection)."""

    users: UserStore
    sessions: SessionStore
    replay: ReplayCache
    outbox: Outbox
    activity: ActivityLog | None = None
    closer: Closable | None = None
    # The register of verified addresses; a ``Stores`` built by hand without one keeps it in memory.
    verified: VerifiedStore = field(default_factory=MemoryVerifiedStore)
    # What the site counts beside its sessions (failed logins, spam sessions, user changes).
    counts: EventCounts = field(default_factory=MemoryEventCounts)
    availability: Availability = field(default_factory=lambda: Availability("memory store"))

    async def purge(
        self, now: float, retention: float, *, activity_retention: float | None = None, activity_max: int | None = None
    ) -> dict[str, int]:
        """Expire sessions past their lifetime; delete ended sessions, finished messages and
        tombstones (deleted users, kept so a late update cannot bring them back) older than
        ``retention`` seconds, expired replay ids, and activity entries older than
        ``activity_retention`` (default ``retention``) or beyond the newest ``activity_max``.
        Returns the counts (``expired_sessions``, ``purged_sessions``, ``purged_replay_ids``,
        ``purged_messages``, ``purged_tombstones``, ``purged_verified``, ``purged_activity``). Safe to run from
        several processes."""
        sessions = administers(self.sessions)  # a request-path-only registry: not its history
        done = {
            "expired_sessions": await self.sessions.expire(now) if sessions else 0,
            "purged_sessions": await self.sessions.purge(now - retention) if sessions else 0,
            "purged_replay_ids": await self.replay.purge(now),
            "purged_messages": await self.outbox.purge(now - retention),
            "purged_tombstones": await self.users.purge_tombstones(now - retention),
            "purged_verified": await self.verified.purge(now),
        }
        if self.activity is not None:
            keep = retention if activity_retention is None else activity_retention
            done["purged_activity"] = await self.activity.purge(now - keep, keep=activity_max)
        return done

    async def close(self) -> None:
        if self.closer is not None:
            await self.closer.close()
