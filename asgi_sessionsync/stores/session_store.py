"""The session registry's contract, by who uses it.

- :class:`SessionRegistry`: what the request path uses (a sign-in, every signed-in
  request, a sign-out, ending an app's login): a backend that implements this runs.
- :class:`SessionAdministration`: what administration and governance use (the command
  line's listings, the console's pages, the policy's counts, the idle pass, history
  purges, erasure). Every
  built-in backend implements it too. A backend that implements only the request path
  runs behind :func:`without_administration`, and those features then say they need it.
- :class:`SessionAnalytics`: an optional fast path for the analytics (daily counts kept
  as sessions start and end); without it they are computed from
  :meth:`SessionAdministration.search` (:func:`asgi_sessionsync.stores.stats.analytics`).
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.stores.records import PAGE_BUDGET, SessionFilter, SessionKey, SessionPage, SessionRecord

if TYPE_CHECKING:
    from asgi_sessionsync.stores.stats import SessionStats


class SessionRegistry(Protocol):
    """The sessions of one site, as the request path uses them: active ones, and ended
    ones until purged.

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
        process) is seen by every process sharing the store within milliseconds: a
        per-process cache is told through pub/sub (Redis) or ``PRAGMA data_version``
        (SQLite, looked at every 10 ms); this process's own ends are seen at once.
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

    async def active(self, user: str) -> builtins.list[SessionRecord]:
        """The user's active sessions, newest first (``created_at`` descending, ties by
        ``sid`` descending): what ending some of them (a chain, an idle one, those made
        before a time) must also end of the app's logins. A user's sessions are few: an
        index by user, not a scan."""
        ...


@runtime_checkable
class SessionAdministration(Protocol):
    """The sessions of one site, as administration and governance use them (may scan)."""

    async def list(
        self, *, user: str | None = None, include_ended: bool = False, limit: int = 1000
    ) -> list[SessionRecord]:
        """Sessions, newest first: ``created_at`` descending, ties by ``sid`` descending.

        Only ``user``'s when given; only active ones unless ``include_ended``; at most
        ``limit``. For administration, not the request path: may scan.
        """
        ...

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

    async def page(
        self,
        where: SessionFilter,
        *,
        after: SessionKey | None = None,
        limit: int = 50,
        budget: int = PAGE_BUDGET,
    ) -> SessionPage:
        """Sessions matching ``where``, newest first (``created_at`` descending, ties by
        ``sid`` descending), from just after ``after`` on (a previous page's ``next``: the
        ``(created_at, sid)`` of where it stopped), at most ``limit``: the console's lists.

        Bounded work, never an offset: the page walks one index from the cursor — the
        user's sessions when ``where.user`` is given, else the address's when ``where.ip``
        is, else every session — and examines at most ``budget`` sessions of it, keeping
        those that match the rest of ``where``. So a page whose budget ran out before it
        found ``limit`` (a filter that few sessions match) holds fewer, and its ``next``
        is the last session examined: the next call goes on from there. ``next`` is None
        only when no session is left after the page's last. Pages never repeat or skip a
        session that exists from one call to the next (one created meanwhile is newer
        than the cursor: it is on a first page, not a later one)."""
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

    async def expire(self, now: float) -> int:
        """End active sessions whose ``expires_at < now`` with reason ``"expired"`` and
        ``ended_at = expires_at`` (when they really ended, not when this ran); return
        how many. Sessions without ``expires_at`` never expire. Idempotent."""
        ...

    async def purge(self, ended_before: float) -> int:
        """Delete ended sessions with ``ended_at < ended_before``; return how many this
        call deleted. Active sessions are never deleted. Idempotent."""
        ...


@runtime_checkable
class SessionAnalytics(Protocol):
    """An optional fast path: the analytics from counts the store keeps as sessions start
    and end (SQL aggregates, per-day counters)."""

    async def analytics(self, since: float, until: float, *, top: int = 10) -> SessionStats:
        """The figures of :class:`~asgi_sessionsync.stores.stats.SessionStats` for the
        UTC days from ``since``'s through ``until``'s (sessions started or ended on them),
        and the sessions active at ``until``; see there for each.
        Computed by the store from what it counts."""
        ...


@runtime_checkable
class SessionPeek(Protocol):
    """An optional fast path for the request path: a registry that keeps sessions in this
    process's memory (the memory store; the per-process caches of SQLite and Redis) lets
    a signed-in request read one without awaiting :meth:`SessionRegistry.get`."""

    def peek(self, sid: str) -> SessionRecord | None:
        """The session as :meth:`~SessionRegistry.get` would answer now, from memory,
        without I/O; or ``None`` when that is not known without asking (the caller then
        awaits ``get``, which may also answer ``None``). Never a record ``get`` would not
        give: an end is seen by ``peek`` no later than by ``get``."""
        ...


class SessionStore(SessionRegistry, SessionAdministration, Protocol):
    """Both parts of the contract: what every built-in backend implements."""


_ADMINISTRATION = ("list", "search", "page", "idle", "erase_user", "expire", "purge")


class _WithoutAdministration:
    """A request-path-only registry as a :class:`SessionStore` whose administration says
    it is missing (see :func:`without_administration`)."""

    def __init__(self, registry: SessionRegistry) -> None:
        self.registry = registry

    def __getattr__(self, name: str) -> object:
        if name in _ADMINISTRATION:
            return _missing(name)
        return getattr(self.registry, name)


def _missing(name: str) -> Callable[..., Awaitable[object]]:
    async def missing(*args: object, **kwargs: object) -> object:
        raise StoreError(
            f"this session store implements only the request path (SessionRegistry): {name} needs "
            "SessionAdministration (the command line's listings, the policy's counts, the idle pass, purges)"
        )

    return missing


def without_administration(registry: SessionRegistry) -> SessionStore:
    """A backend that implements only :class:`SessionRegistry`, made a ``Stores.sessions``:
    sign-ins, signed-in requests and sign-outs run; what needs administration raises
    :class:`~asgi_sessionsync.exceptions.StoreError` saying so."""
    return cast(SessionStore, _WithoutAdministration(registry))


def administers(sessions: SessionRegistry) -> bool:
    """Whether ``sessions`` implements the administration too (False: a registry made a
    store by :func:`without_administration`)."""
    return not isinstance(sessions, _WithoutAdministration)
