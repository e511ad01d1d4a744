"""A store whose backend can be switched off in a test, as an unreachable server would be:
while ``Outage.down``, every call of every one of its stores raises
:class:`StoreUnavailable` through the stores' own ``Availability`` (so the one line when it
goes and the one when it is back are logged as for a real backend)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgi_sessionsync.stores import Stores, memory_stores
from asgi_sessionsync.stores.availability import Availability

PROBLEM = "cannot reach the server"


# Methods that only read: with ``Outage.writes_only`` they still work, as on a full disk.
READS = frozenset(
    {"get", "seen", "list", "search", "idle", "find_by_app_ref", "pending", "tombstone", "list_users", "analytics"}
)


class Outage:
    """The switch: ``down`` True makes every call fail (only writes with ``writes_only``)."""

    def __init__(self) -> None:
        self.down = False
        self.writes_only = False
        self.maybe_done = False  # fail as a server that did not answer in time (it may yet do it)
        self.calls_failed = 0


class _Failing:
    """One store seen through the switch."""

    def __init__(self, inner: object, outage: Outage, availability: Availability) -> None:
        self._inner = inner
        self._outage = outage
        self._availability = availability

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name == "peek":
            # The switched store stands for a server: what this process holds of it
            # (SessionPeek) is the memory store's, which a server that does not answer
            # would not have. While down (and until a call reached it again), nothing is
            # known without asking.
            peek = cast(Callable[[str], Any], value)
            return lambda sid: None if self._outage.down or self._availability.down else peek(sid)
        if not inspect.iscoroutinefunction(value):
            return value
        method = cast(Callable[..., Awaitable[Any]], value)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._outage.down and not (self._outage.writes_only and name in READS):
                self._outage.calls_failed += 1
                raise self._availability.failed(
                    PROBLEM, "ConnectionError: switched off by the test", maybe_done=self._outage.maybe_done
                )
            result = await method(*args, **kwargs)
            self._availability.ok()
            return result

        return call


def switchable(stores: Stores | None = None) -> tuple[Stores, Outage]:
    """``stores`` (memory stores by default) behind a switch, and the switch."""
    inner = stores or memory_stores()
    outage = Outage()
    availability = Availability("Redis store redis://test.internal/0 (switched by the test)")

    def wrap(store: object) -> Any:
        return _Failing(store, outage, availability)

    wrapped = Stores(
        users=wrap(inner.users),
        sessions=wrap(inner.sessions),
        replay=wrap(inner.replay),
        outbox=wrap(inner.outbox),
        activity=wrap(inner.activity) if inner.activity is not None else None,
        closer=inner.closer,
        availability=availability,
        verified=wrap(inner.verified),
    )
    return wrapped, outage
