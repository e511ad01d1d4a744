"""Starting and stopping what runs beside the app: the outbox worker, then closing.

Under ASGI lifespan (uvicorn, Hypercorn, any backend anyio supports) the worker runs in
a task group that wraps the app's own lifespan, and shutdown stops it and closes the
stores and the HTTP client. A server without lifespan on asyncio gets the worker as a
background task at the first request (the reference is kept); on trio without
lifespan there is nowhere to run one, so sign-outs are delivered inline and retried
only by a later sign-out (this is logged once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.exceptions import SessionSyncError
from asgi_sessionsync.site import Site

logger = logging.getLogger("asgi_sessionsync")

HOUSEKEEPING_EVERY = 3600.0  # seconds between two purges of old history


class Worker:
    """Owns the outbox worker of one site and the site's closing."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.started = False
        self._cancel: anyio.CancelScope | None = None
        self._task: asyncio.Task[None] | None = None  # when started without lifespan

    async def _derive_keys(self) -> None:
        # scrypt costs tens of ms per secret: never on the event loop.
        await anyio.to_thread.run_sync(self.site.tokens.keychain.derive)
        await self.site.governor.start()  # the user-agent rules, in a thread too

    async def ensure_started(self) -> None:
        """At the first request: derive the keys and start the worker if lifespan did not."""
        if self.started:
            return
        self.started = True
        await self._derive_keys()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            loop = None
        if loop is not None:
            self._task = loop.create_task(self._run(), name="sessionsync-outbox")
        else:
            logger.warning(
                "no ASGI lifespan: the outbox worker is not running, so failed sign-out messages "
                "are retried only when the server runs lifespan (enable it in your server)"
            )

    async def _run(self) -> None:
        with anyio.CancelScope() as scope:
            self._cancel = scope
            async with anyio.create_task_group() as group:
                group.start_soon(self.site.courier.run)
                group.start_soon(self._housekeeping)
                group.start_soon(self.site.governor.run)

    async def _housekeeping(self) -> None:
        """Every hour: mark sessions past their lifetime ended, delete history older than
        the retention period (nothing grows without bound)."""
        while True:
            try:
                done = await self.site.stores.purge(time.time(), self.site.settings.retention)
                if any(done.values()):
                    logger.info("store housekeeping: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
            except SessionSyncError as error:
                logger.error("store housekeeping failed (%s); trying again in an hour", error)
            await anyio.sleep(HOUSEKEEPING_EVERY)

    async def lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def watched_receive() -> Message:
                message: Message = await receive()
                if message["type"] == "lifespan.startup" and not self.started:
                    self.started = True
                    await self._derive_keys()
                    group.start_soon(self._run)
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                return message

            await app(scope, watched_receive, send)
            self._stop()

    def _stop(self) -> asyncio.Task[None] | None:
        if self._cancel is not None:
            self._cancel.cancel()
            self._cancel = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task

    async def stop(self) -> None:
        """Stop the worker (the site stays open)."""
        task = self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.started = False

    async def aclose(self) -> None:
        """Stop the worker; close the HTTP client and the stores."""
        await self.stop()
        await self.site.aclose()
