"""Users and sessions of one site: provisioning, starting, resolving and ending sessions.

The session cookie is an envelope of purpose ``session`` naming a row of the session
registry; the registry is the authority on whether it is still active, and is asked
on every request, so that a sign-out anywhere takes effect at once. One part per job:
``start.py`` provisioning users and starting sessions, ``resolve.py`` resolving a cookie
(per request), ``end.py`` ending sessions and the app logins that go with them;
:class:`Sessions` offers the three as one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgi_sessionsync.client_ip import ClientAddress
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.sessions.active import TOUCH_EVERY, ActiveSession
from asgi_sessionsync.sessions.end import SessionEnder
from asgi_sessionsync.sessions.resolve import OPENED_MAX, SessionResolver
from asgi_sessionsync.sessions.start import SessionStarter
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import SessionRecord, Stores
from asgi_sessionsync.tokens import Tokens

logger = package_log("asgi_sessionsync")

__all__ = [
    "OPENED_MAX",
    "TOUCH_EVERY",
    "ActiveSession",
    "SessionEnder",
    "SessionResolver",
    "SessionStarter",
    "Sessions",
]


class Sessions:
    """Users and sessions of one site, over its stores: provisioning users and starting
    sessions (:class:`SessionStarter`), resolving (:class:`SessionResolver`) and ending (:class:`SessionEnder`)
    in its collaborators, whose methods it offers as its own."""

    def __init__(self, settings: Settings, stores: Stores, tokens: Tokens, address: ClientAddress) -> None:
        self.settings = settings
        self.stores = stores
        self.tokens = tokens
        self.address = address
        self.origin = settings.origin
        self.log = site_log(logger.name, settings.origin)
        self.resolver = resolver = SessionResolver(settings, stores, tokens, self.log)
        self.ender = ender = SessionEnder(stores, self.log)
        self.starter = starter = SessionStarter(settings, stores, tokens, address, ender, self.log)
        # Their methods, bound once: calling one through here costs no extra hop
        # (``resolve`` runs on every signed-in request).
        self.resolve = resolver.resolve
        self.ensure_user = starter.ensure_user
        self.start = starter.start
        self.start_synced = starter.start_synced
        self.end = ender.end
        self.end_chain = ender.end_chain
        self.end_user = ender.end_user
        self.apply_logout = ender.apply_logout
        self.void = ender.void
        self.app_refs = ender.app_refs
        self.end_app_logins = ender.end_app_logins
        self.app_login_ended = ender.app_login_ended

    @property
    def end_app_login(self) -> Callable[[str], Awaitable[None]] | None:
        """See :attr:`SessionEnder.end_app_login`."""
        return self.ender.end_app_login

    @end_app_login.setter
    def end_app_login(self, value: Callable[[str], Awaitable[None]] | None) -> None:
        self.ender.end_app_login = value

    @property
    def idle_after(self) -> dict[str, float]:
        """Idle limits per role (see :class:`SessionResolver`)."""
        return self.resolver.idle_after

    @idle_after.setter
    def idle_after(self, value: dict[str, float]) -> None:
        self.resolver.idle_after = value

    @property
    def idle_default(self) -> float:
        return self.resolver.idle_default

    @idle_default.setter
    def idle_default(self, value: float) -> None:
        self.resolver.idle_default = value

    @property
    def on_idle(self) -> Callable[[ActiveSession, SessionRecord], Awaitable[None]] | None:
        return self.resolver.on_idle

    @on_idle.setter
    def on_idle(self, value: Callable[[ActiveSession, SessionRecord], Awaitable[None]] | None) -> None:
        self.resolver.on_idle = value
