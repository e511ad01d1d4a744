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

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from asgi_sessionsync.stores.activity_log import ActivityLog
from asgi_sessionsync.stores.availability import Availability
from asgi_sessionsync.stores.messages import Outbox, ReplayCache
from asgi_sessionsync.stores.records import (
    DROPPED_BY_OPERATOR,
    EXPIRED,
    ActivityEntry,
    ActivityFilter,
    Direction,
    ImportCounts,
    MessageStatus,
    OutboxMessage,
    Outcome,
    SessionRecord,
    User,
    finish_time,
    new_id,
    normalize_email,
)

if TYPE_CHECKING:
    from asgi_sessionsync.stores.stats import SessionStats
    from asgi_sessionsync.stores.versions import Applied, Tombstone, UserChange

__all__ = [
    "DROPPED_BY_OPERATOR",
    "EXPIRED",
    "ActivityEntry",
    "ActivityFilter",
    "ActivityLog",
    "Closable",
    "Direction",
    "ImportCounts",
    "MessageStatus",
    "Outbox",
    "OutboxMessage",
    "Outcome",
    "ReplayCache",
    "SessionRecord",
    "SessionRegistry",
    "Stores",
    "User",
    "UserStore",
    "finish_time",
    "new_id",
    "normalize_email",
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

    async def list_users(self, *, role: str | None = None, limit: int = 1000, offset: int = 0) -> list[User]:
        """Users by email (``users export``), only ``role``'s when given: ``limit`` of them
        after ``offset``. For administration: may scan, never loads every user for a page."""
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


class SessionRegistry(Protocol):
    """The sessions of one site: active ones, and ended ones until purged.

    A registry holds one site's sessions: two sites never share one (one SQLite file,
    one Redis prefix per site).
    """

    async def create(self, record: SessionRecord) -> None:
        """Store a new session exactly as given (the user's email normalized).

        Raises :class:`StoreError` when ``record.sid`` exists already: sids are random,
        so a duplicate is a bug, and a registry never overwrites a session.
        """
        ...

    async def get(self, sid: str) -> SessionRecord | None:
        """The session, active or ended, or ``None`` when unknown or purged.

        Asked on every request: it must be cheap. An end (by any method, in any
        process) is seen by every process sharing the store: at once for SQLite, and
        within one pub/sub delivery (milliseconds) where a per-process cache is kept.
        """
        ...

    async def touch(self, sid: str, when: float) -> None:
        """Set ``last_seen_at = when``. Unknown sid: no-op. Never revives an ended session."""
        ...

    async def end(self, sid: str, *, reason: str, when: float) -> bool:
        """End one active session (``ended_at = when``, ``end_reason = reason``).

        True when it was active; False when unknown or already ended (then nothing
        changes: the first end's time and reason stay). Idempotent.
        """
        ...

    async def end_user(
        self, user: str, *, reason: str, when: float, chain: str | None = None, created_before: float | None = None
    ) -> int:
        """End the user's active sessions and return how many ended.

        ``chain`` limits it to that sign-in's sessions; ``created_before`` to sessions
        with ``created_at <= created_before`` (inclusive: a peer's sign-out at time T
        ends what was made up to T, never a later sign-in). Atomic: no session of the
        user that matches escapes because it was being ended concurrently. Idempotent.
        """
        ...

    async def end_chain_except(self, chain: str, keep_sid: str, *, reason: str, when: float) -> int:
        """End every active session of ``chain`` except ``keep_sid``; return how many.

        Used when a browser re-syncs: its older sessions of the same sign-in here are
        orphans. ``keep_sid`` need not exist. Atomic like :meth:`end_user`. Idempotent.
        """
        ...

    async def expire(self, now: float) -> int:
        """End active sessions whose ``expires_at < now`` with reason ``"expired"`` and
        ``ended_at = expires_at`` (when they really ended, not when this ran); return
        how many. Sessions without ``expires_at`` never expire. Idempotent."""
        ...

    async def purge(self, ended_before: float) -> int:
        """Delete ended sessions with ``ended_at < ended_before``; return how many this
        call deleted. Active sessions are never deleted. Idempotent."""
        ...

    async def find_by_app_ref(self, ref: str) -> SessionRecord | None:
        """A session recorded with ``app_ref == ref`` (exactly), or ``None`` when no
        session carries it (active or ended, until purged).

        When several do (an app login adopted again, or an adapter whose reference names
        the app's user rather than one login), an ended one is returned if any has ended
        (an app login whose session ended is dead), otherwise the newest (``created_at``,
        ties by ``sid`` descending). Not on the per-request path, but must not scan: an
        index by reference. An end in any process is seen at once.
        """
        ...

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        """Sessions, newest first: ``created_at`` descending, ties by ``sid`` descending.

        Only ``user``'s when given; only active ones unless ``include_ended``; at most
        ``limit``. For administration, not the request path: may scan.
        """
        ...

    # -- governance (history, idle sessions, analytics) ---------------------------------

    async def search(
        self,
        *,
        user: str | None = None,
        ip: str | None = None,
        since: float | None = None,
        active: bool = False,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        """Sessions, newest first as :meth:`list`, active and ended: only ``user``'s,
        only from ``ip``, only created at or after ``since``, only active ones with
        ``active``; at most ``limit``. For administration: may scan."""
        ...

    async def idle(
        self, seen_before: float, limit: int = 500, *, after: tuple[float, str] | None = None
    ) -> builtins.list[SessionRecord]:
        """Active sessions with ``last_seen_at < seen_before``, least recently seen
        first (ties by sid), at most ``limit``; with ``after``, only those after that
        ``(last_seen_at, sid)`` in this order (to page on). Ended sessions never."""
        ...

    async def erase_user(self, user: str) -> int:
        """Delete every session of ``user``, active or ended (a request for erasure);
        return how many. Idempotent. End the active ones first if they must end."""
        ...

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        """The figures of :class:`~asgi_sessionsync.stores.stats.SessionStats` for the
        UTC days from ``since``'s through ``until``'s (sessions started or ended on them),
        and the sessions active at ``until``; see there for each.
        Computed by the store (SQL aggregates where it has SQL); backends that compute
        in Python look at no more than ``SessionStats.MAX_ROWS`` rows and say so
        (``truncated``)."""
        ...


class Closable(Protocol):
    async def close(self) -> None: ...


@dataclass
class Stores:
    """The five stores of one site, closed together (``activity`` None: nothing recorded).
    ``availability``: whether their backend answers (one per backend connection)."""

    users: UserStore
    sessions: SessionRegistry
    replay: ReplayCache
    outbox: Outbox
    activity: ActivityLog | None = None
    closer: Closable | None = None
    availability: Availability = field(default_factory=lambda: Availability("memory store"))

    async def purge(
        self, now: float, retention: float, *, activity_retention: float | None = None, activity_max: int | None = None
    ) -> dict[str, int]:
        """Expire sessions past their lifetime; delete ended sessions, finished messages and
        tombstones (deleted users, kept so a late update cannot bring them back) older than
        ``retention`` seconds, expired replay ids, and activity entries older than
        ``activity_retention`` (default ``retention``) or beyond the newest ``activity_max``.
        Returns the counts (``expired_sessions``, ``purged_sessions``, ``purged_replay_ids``,
        ``purged_messages``, ``purged_tombstones``, ``purged_activity``). Safe to run from
        several processes."""
        done = {
            "expired_sessions": await self.sessions.expire(now),
            "purged_sessions": await self.sessions.purge(now - retention),
            "purged_replay_ids": await self.replay.purge(now),
            "purged_messages": await self.outbox.purge(now - retention),
            "purged_tombstones": await self.users.purge_tombstones(now - retention),
        }
        if self.activity is not None:
            keep = retention if activity_retention is None else activity_retention
            done["purged_activity"] = await self.activity.purge(now - keep, keep=activity_max)
        return done

    async def close(self) -> None:
        if self.closer is not None:
            await self.closer.close()
