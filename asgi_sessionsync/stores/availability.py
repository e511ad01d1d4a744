"""Whether a store answers: one :class:`Availability` per backend connection, shared by its
five stores (``Stores.availability``).

A store that cannot answer (a Redis server killed or paused, a full disk, a read-only or
damaged file, a lock held past the busy timeout) raises
:class:`~asgi_sessionsync.exceptions.StoreUnavailable`, made here by :meth:`Availability.failed`.
That is a known state, not a bug, so it is logged twice and no more: one ERROR line when
the store goes (what is wrong, in the driver's words too), one WARNING line when it is
back, with how long it was gone, how many store operations failed meanwhile and what the
requests got (answered 503, served from what the process knew; counted by
:meth:`Availability.note`). No line per request, no traceback.

*Back* means: an operation of the kind that failed succeeded, ``settle`` seconds or more
after the last failure. A store whose writes fail (a full disk) is not back because a
read went well; a store whose reads failed is back at a good read. ``settle`` (SQLite: a
few seconds) keeps a disk where some writes fit and others do not from saying "gone",
"back", "gone" with every request: that is one outage until no write failed for a while.

*Failing fast* (``fail_fast``, the Redis store): while the store is down, calls fail at
once, without waiting for a server that does not answer, except one call a second (the
probe) that tries for real; the first probe that succeeds brings the store back. A
paused server thus costs one socket timeout a second, not one per request.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.logs import PackageLog, package_log

PROBE_EVERY = 1.0  # seconds between two calls that try a store known to be down (fail_fast)

LOGGER = "asgi_sessionsync.stores"


class Availability:
    """Whether one backend answers; see the module docstring."""

    def __init__(self, store: str, *, fail_fast: bool = False, settle: float = 0.0) -> None:
        self.store = store  # "SQLite store FILE", "Redis store URL" (no password): fit for a log line
        self.fail_fast = fail_fast
        self.settle = settle
        self.log: PackageLog = package_log(LOGGER)  # the site gives its own (site_log)
        self.down_since: float | None = None  # monotonic time it went, None while it answers
        self.problem = ""
        self.failed_operations = 0
        self.answered: Counter[str] = Counter()  # what requests got meanwhile, by kind
        self._writes_only = False  # only writes failed: a good read does not bring it back
        self._next_probe = 0.0
        self._last_failure = 0.0
        #: Called (without arguments, never awaited) when the store is back: the courier
        #: flushes the sign-outs it kept meanwhile.
        self.on_back: list[Callable[[], None]] = []

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def check(self) -> None:
        """Before a call (``fail_fast`` stores): raise at once while the store is down,
        unless this call is the second's probe."""
        if self.down_since is None or not self.fail_fast:
            return
        now = time.monotonic()
        if now >= self._next_probe:
            self._next_probe = now + PROBE_EVERY
            return
        self.failed_operations += 1
        raise StoreUnavailable(self.store, self.problem, "not tried: it failed less than a second ago")

    def failed(
        self, problem: str, detail: str = "", *, write: bool = True, maybe_done: bool = False
    ) -> StoreUnavailable:
        """An operation failed because the store cannot answer: count it (the first says
        so in the log) and return the error to raise (``maybe_done``: it may still have
        been carried out, see :class:`StoreUnavailable`)."""
        self.failed_operations += 1
        self._last_failure = time.monotonic()
        if self.down_since is None:
            self.down_since = self._last_failure
            self._next_probe = self.down_since + PROBE_EVERY
            self.problem = problem
            self._writes_only = write
            self.failed_operations = 1
            self.answered.clear()
            self.log.error(
                "%s unavailable: %s (%s); requests that need it are answered 503 until it is back "
                '(docs/operations.md, "When a store is down")',
                self.store,
                problem,
                detail or "no detail",
            )
        elif not write:
            self._writes_only = False  # reads fail too now: a good read will say it is back
        return StoreUnavailable(self.store, problem, detail, maybe_done=maybe_done)

    def ok(self, *, write: bool = True) -> None:
        """An operation succeeded: if the store was down (and this is the kind of
        operation that failed), it is back; say so once, with what failed meanwhile."""
        if self.down_since is None or (self._writes_only and not write):
            return
        now = time.monotonic()
        if self.settle and now - self._last_failure < self.settle:
            return
        gone = now - self.down_since
        answered = ", ".join(f"{what} {n}" for what, n in sorted(self.answered.items()))
        self.down_since = None
        self.log.warning(
            "%s available again after %.1f s: %d operation(s) failed meanwhile (%s)",
            self.store,
            gone,
            self.failed_operations,
            answered or "no request needed it",
        )
        for back in list(self.on_back):
            back()

    def note(self, what: str) -> None:
        """A request got ``what`` because the store is down ("answered 503", "served from
        this process's cache"): counted for the line that says it is back."""
        self.answered[what] += 1
