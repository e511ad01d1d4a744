"""Hooks for app code: what happened, told after the fact, never in a request's way.

An app registers plain or async callables for an event name::

    hooks = Hooks()

    @hooks.on("signed_in")
    async def welcome(event: SignedIn) -> None: ...

    app = SessionSyncMiddleware(app, hooks=hooks)  # or later: middleware.site.hooks.on(...)

Events, each a frozen dataclass (no token, no session id, no password hash):

- ``signed_in`` :class:`SignedIn`: a session started here, and how (``login``, ``hop``,
  ``frame``, ``catch-up``, ``code``, ``adopted``);
- ``signed_out`` :class:`SignedOut`: sessions of a user ended here, and why (signed out
  here, everywhere, from a peer, idle, revoked, …);
- ``user_change`` :class:`UserChangeReceived`: a peer's user change applied, stale or refused;
- ``sign_in_blocked`` :class:`SignInBlocked`: the session policy refused a sign-in;
- ``peer_unreachable`` :class:`PeerUnreachable`: a peer was left out of sign-in sync;
- ``app_message`` :class:`AppMessage`: a peer's message of the app's own kind
  (:func:`asgi_sessionsync.app_messages.send_message` on the peer).

Each is emitted from the one home of its flow (:mod:`asgi_sessionsync.sessions.opening`,
:mod:`asgi_sessionsync.sessions.signout`, :meth:`SessionEnder.apply_logout
<asgi_sessionsync.sessions.end.SessionEnder.apply_logout>`, the idle sessions,
:class:`~asgi_sessionsync.usersync.UserSync`, :class:`~asgi_sessionsync.peers.PeerHealth`).

Calls never break or hold a request: :meth:`Hooks.emit` returns at once. Each call runs
in the background, in the site's worker task group (a task of the event loop before the
worker runs, on asyncio): an async hook on the loop, a plain one in a worker thread (so
it may block, and call Django's ORM). An exception in a hook is logged once per hook
(with its traceback, the first time); the rest goes on. Where nothing runs in the
background (trio without lifespan) a call is made in place, bounded by
:data:`INLINE_LIMIT` seconds. At most :data:`MAX_IN_FLIGHT` calls run at once; beyond
that, calls are dropped and counted in a warning (at most one a minute).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import anyio
import anyio.to_thread
import sniffio
from anyio.abc import TaskGroup

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.logs import package_log

logger = package_log("asgi_sessionsync.hooks")

MAX_IN_FLIGHT = 1000
INLINE_LIMIT = 1.0  # seconds a hook may take where it cannot run in the background
WARN_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session started here. ``how``: ``login`` (this site's app; also ``cross-site
    login`` and the like, kept local), ``adopted`` (the app's own login, recorded),
    ``hop``, ``frame``, ``catch-up`` (a peer's sign-in, ``peer`` says whose) or ``code``
    (a peer's sign-in held until the address was verified here). ``device``: the
    session's device as recorded (``class/browser/os/client type``; "" without
    ua-parser); ``country``: its ISO code ("" when unknown)."""

    site: str
    email: str
    how: str
    peer: str | None = None
    via: str = ""  # the registry's words for it (``hop from https://a.example``)
    device: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class SignedOut:
    """Sessions of ``email`` ended here (``sessions`` how many). ``why``: the reason the
    registry records (``signed out``, ``signed out on https://b.example``, ``idle``, …);
    ``peer`` the peer that said so (None: here); ``everywhere``: every browser of the user."""

    site: str
    email: str
    why: str
    sessions: int
    peer: str | None = None
    everywhere: bool = False


@dataclass(frozen=True, slots=True)
class UserChangeReceived:
    """A peer's change to a user: ``outcome`` ``applied``, ``stale``, ``deleted`` or
    ``refused: …`` (``refused`` True), as this site's log says it."""

    site: str
    email: str
    action: str
    peer: str
    outcome: str
    refused: bool


@dataclass(frozen=True, slots=True)
class SignInBlocked:
    """The session policy refused a sign-in here (``rule``: which one)."""

    site: str
    email: str
    rule: str
    how: str
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class PeerUnreachable:
    """A peer was left out of sign-in sync (``problem``: why, in a few words)."""

    site: str
    peer: str
    problem: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AppMessage:
    """A message of the app's own kind (``app.<name>``) from a peer, authentic, applied
    once, and accepted from that peer by the network file (``send_message`` on the peer):
    ``payload`` is what the peer's app sent (JSON values), ``user`` the address it named
    (``""``: none)."""

    site: str
    peer: str
    kind: str
    payload: Any
    user: str = ""


Event = SignedIn | SignedOut | UserChangeReceived | SignInBlocked | PeerUnreachable | AppMessage
EVENTS: dict[str, type[Any]] = {
    "signed_in": SignedIn,
    "signed_out": SignedOut,
    "user_change": UserChangeReceived,
    "sign_in_blocked": SignInBlocked,
    "peer_unreachable": PeerUnreachable,
    "app_message": AppMessage,
}
_NAMES = {kind: name for name, kind in EVENTS.items()}
Hook = Callable[[Any], Awaitable[None] | None]
H = TypeVar("H", bound=Hook)


@dataclass
class Hooks:
    """The hooks of one site (see the module's doc)."""

    _handlers: dict[str, list[Hook]] = field(default_factory=dict)
    _failed: set[int] = field(default_factory=set)  # hooks whose failure was logged
    _group: TaskGroup | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _in_flight: int = 0
    _dropped: int = 0
    _warned_at: float = float("-inf")

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, hook: H) -> H: ...

    def on(self, event: str, hook: H | None = None) -> Any:
        """Register ``hook`` for ``event`` (one of :data:`EVENTS`); without ``hook``, a
        decorator. An unknown event name is a :class:`ConfigError`."""
        if event not in EVENTS:
            raise ConfigError("hooks", f"no event {event!r}: one of {', '.join(EVENTS)}", 'hooks.on("signed_in", fn)')

        def register(fn: H) -> H:
            if not callable(fn):
                raise ConfigError("hooks", f"a hook for {event!r} must be callable", 'hooks.on("signed_in", fn)')
            self._handlers.setdefault(event, []).append(fn)
            return fn

        return register if hook is None else register(hook)

    def __bool__(self) -> bool:
        return bool(self._handlers)

    def has(self, event: str) -> bool:
        """Whether a hook is registered for ``event``."""
        return bool(self._handlers.get(event))

    async def emit(self, event: Event) -> None:
        """Tell every hook of ``event``'s kind, in the background: returns at once (where
        nothing runs in the background, trio without lifespan, each hook runs here,
        bounded by :data:`INLINE_LIMIT` seconds)."""
        handlers = self._handlers.get(_NAMES[type(event)])
        if not handlers:
            return
        for hook in handlers:
            if self._in_flight >= MAX_IN_FLIGHT:
                self._drop()
            elif self._group is not None:
                self._in_flight += 1
                self._group.start_soon(self._call, hook, event)
            elif _on_asyncio():
                self._in_flight += 1
                task = asyncio.get_running_loop().create_task(self._call(hook, event))
                self._tasks.add(task)  # kept until done: the loop holds tasks weakly
                task.add_done_callback(self._tasks.discard)
            else:
                self._in_flight += 1
                with anyio.move_on_after(INLINE_LIMIT):
                    await self._call(hook, event)

    async def run(self) -> None:
        """Run hook calls in the caller's task group until cancelled (the site's worker)."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                await anyio.sleep_forever()
            finally:
                self._group = None

    async def _call(self, hook: Hook, event: Event) -> None:
        try:
            if _is_async(hook):
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
            else:
                result = await anyio.to_thread.run_sync(hook, event)
                if inspect.isawaitable(result):  # a plain callable that returned a coroutine
                    await result
        except Exception:
            if id(hook) not in self._failed:
                self._failed.add(id(hook))
                logger.exception(
                    "hook %s for %s failed (later failures of this hook are not logged); requests go on",
                    getattr(hook, "__qualname__", repr(hook)),
                    _NAMES[type(event)],
                )
        finally:
            self._in_flight = max(0, self._in_flight - 1)

    def _drop(self) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "hooks: %d call(s) dropped, %d already running (at most %d at once); a hook is too slow",
                self._dropped,
                self._in_flight,
                MAX_IN_FLIGHT,
            )
            self._dropped = 0


def _is_async(hook: Hook) -> bool:
    """An async callable: a coroutine function, a partial of one, or an object whose
    ``__call__`` is one (decided as it is called: a plain one runs in a thread)."""
    target = getattr(hook, "func", hook)  # functools.partial
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(type(target).__call__)


def _on_asyncio() -> bool:
    try:
        return sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:
        return False


__all__ = [
    "EVENTS",
    "AppMessage",
    "Event",
    "Hook",
    "Hooks",
    "PeerUnreachable",
    "SignInBlocked",
    "SignedIn",
    "SignedOut",
    "UserChangeReceived",
]
