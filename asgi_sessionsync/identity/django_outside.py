"""User sync for Django from a process without the server (``asgi_sessionsync.djangoapp``).

The middleware connects Django's user signals where it is built: the server's process.
A change made anywhere else (``manage.py shell``, a management command, a Celery worker)
used to queue nothing. With the app in ``INSTALLED_APPS``, this module's handlers do in
such a process what the middleware's do in the server: the same
:class:`~asgi_sessionsync.identity.django_users.DjangoUserSync` work, on a site opened
from the process's own ``SESSIONSYNC_*`` settings (and ``.env``), the first time a user
is saved. Its messages are only *written* to the outbox of the shared store
(``SESSIONSYNC_STORE``: a SQLite file or a Redis server the server uses too; the memory
store is of no use here); the server's outbox worker delivers them (within about a
second). A password change also ends the user's sessions in the shared registry and
queues the sign-out everywhere.

The site's async work runs on an event loop of its own, in a daemon thread, so that its
stores stay bound to one loop whatever Django's sync code runs in; each handler waits
for its write before returning (so the change is in the outbox when ``save()`` returns).
In a process where the middleware is built (the server), these handlers stay quiet. A
process whose settings do not work (no ``SESSIONSYNC_*`` at all, another identity) is
not broken: its changes are not sent, said once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_save

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.identity.django_users import DjangoUserSync
from asgi_sessionsync.logs import package_log

logger = package_log("asgi_sessionsync.users")

UID = "asgi_sessionsync:outside-the-server"
WAIT = 60.0  # seconds a save waits at most for its outbox write (a locked SQLite file, a slow Redis)


class OwnLoop:
    """An event loop in a daemon thread, for Django's sync code outside the server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sessionsync-outside", daemon=True)
        self.thread.start()

    def run(self, function: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        """``function`` made sync, run on this loop (``async_to_sync``'s shape)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            async def run() -> Any:
                return await function(*args, **kwargs)

            return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=WAIT)

        return call


class OutsideServer:
    """The user sync of a process without the server, made at its first use."""

    def __init__(self) -> None:
        self._sync: DjangoUserSync | None = None
        self._lock = threading.Lock()
        self._unusable = False

    def sync(self) -> DjangoUserSync | None:
        """The user sync to hand a signal to; None in the server's process (its own
        handlers send), or where the settings do not work (said once)."""
        if DjangoUserSync.served:
            return None
        with self._lock:
            if self._sync is None and not self._unusable:
                try:
                    self._sync = self._open()
                except ConfigError as error:
                    self._unusable = True
                    logger.warning(
                        "a change of a Django user in this process is not sent to the peers: the SESSIONSYNC_* "
                        "settings do not work here (%s). Give this process the server's settings (the same "
                        "SESSIONSYNC_STORE), or take asgi_sessionsync.djangoapp out of INSTALLED_APPS. Said once.",
                        error,
                    )
            return self._sync

    @staticmethod
    def _open() -> DjangoUserSync:
        from asgi_sessionsync.settings import Settings
        from asgi_sessionsync.site import Site

        settings = Settings.from_env()
        if settings.identity != "django":
            raise ConfigError("SESSIONSYNC_IDENTITY", f"is {settings.identity!r}, not django")
        if settings.store == "memory://":
            raise ConfigError("SESSIONSYNC_STORE", "the memory store is this process's own: the server never sees it")
        site = Site(settings)
        site.courier.queue_only = True  # the server's worker delivers
        loop = OwnLoop()
        return DjangoUserSync(site, run=loop.run, connect=False)


def connect_outside_server() -> OutsideServer:
    """Connect the handlers of :class:`OutsideServer` to Django's user model (once per
    process: ``AppConfig.ready``)."""
    outside = OutsideServer()
    model = get_user_model()

    def forward(name: str) -> Callable[..., None]:
        def handler(sender: Any, **kwargs: Any) -> None:
            sync = outside.sync()
            if sync is not None:
                getattr(sync, name)(sender, **kwargs)

        return handler

    for signal, name in ((pre_save, "_pre_save"), (post_save, "_post_save"), (post_delete, "_post_delete")):
        signal.connect(forward(name), sender=model, weak=False, dispatch_uid=UID)
    return outside
