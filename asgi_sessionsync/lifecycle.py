"""Starting and stopping what runs beside the app: the outbox worker, then closing.

Under ASGI lifespan (uvicorn, Hypercorn, any backend anyio supports) the worker runs in
a task group that wraps the app's own lifespan. At start-up the site is opened (again,
after an earlier shutdown), its keys derived and the worker started, all before the
app starts. Once the app has shut down (or failed to start) the worker is stopped and
the stores and the HTTP client are closed, and only then is the server told, so the
app's own shutdown still has the stores. A site that cannot start (stores given to it
were closed by an earlier shutdown) answers ``lifespan.startup.failed`` with the reason.

At lifespan shutdown the worker stops first, at once (a delivery in flight too: its
message stays in the outbox for the next start), before the app's own shutdown, so a
peer that does not answer never holds a server's stop.

A server without lifespan on asyncio gets the worker as a background task at the first
request (the reference is kept; it ends with the event loop); on trio without lifespan there is nowhere to run one,
so sign-outs are delivered inline and retried only by a later sign-out (this is logged
once).

Either way, opening the site installs the access-log redaction filter
(:func:`asgi_sessionsync.logfilter.install_redaction`) unless
``SESSIONSYNC_REDACT_ACCESS_LOG=false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import anyio
import anyio.to_thread
import sniffio
from anyio.abc import TaskGroup, TaskStatus
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync.exceptions import ConfigError, SessionSyncError, StartupRefused, StoreUnavailable
from asgi_sessionsync.logfilter import install_redaction
from asgi_sessionsync.logs import SiteLog, package_log, site_log
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores.session_store import administers

logger = package_log("asgi_sessionsync")

HOUSEKEEPING_EVERY = 3600.0  # seconds between two purges of old history
_CLOSING = frozenset({"lifespan.startup.failed", "lifespan.shutdown.complete", "lifespan.shutdown.failed"})


def _check_async_library(store: str) -> None:
    if store.startswith(("redis://", "rediss://")) and sniffio.current_async_library() != "asyncio":
        raise ConfigError(
            "SESSIONSYNC_STORE",
            "the Redis store runs on asyncio only (redis-py's client); serve the app with an asyncio "
            "server (uvicorn, or Hypercorn's asyncio worker) or use the SQLite store",
        )


def _prepare(site: Site) -> None:
    site.tokens.keychain.derive()
    site.client.prepare()
    site.health.client.prepare()


async def housekeeping(site: Site, log: SiteLog) -> None:
    """Every hour: mark sessions past their lifetime ended, delete history older than
    the retention period (nothing grows without bound)."""
    while True:
        try:
            done = await site.purge_history(time.time())
            if any(done.values()):
                log.info("store housekeeping: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
        except StoreUnavailable:
            pass  # said once by the store's availability; the next hour's pass does it
        except SessionSyncError as error:
            log.error("store housekeeping failed (%s); trying again in an hour", error)
        await anyio.sleep(HOUSEKEEPING_EVERY)


async def idle_passes(site: Site, log: SiteLog) -> None:
    """The worker's pass over expired and idle sessions (``IdleSessions.run``), when the
    session store offers the administration it needs (said once when it does not)."""
    if administers(site.stores.sessions):
        await site.idle.run()
        return
    log.warning(
        "the session store implements only the request path: no expiry or idle pass runs, "
        "and ended sessions are kept until that store purges them itself"
    )


async def waiting_messages(site: Site) -> str:
    """How many messages wait in the outbox ("?" when the store does not say in time)."""
    with anyio.move_on_after(1.0), contextlib.suppress(SessionSyncError):
        return str(len(await site.stores.outbox.pending()))
    return "?"


class Worker:
    """Owns the outbox worker of one site and the site's opening and closing."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = site_log(logger.name, site.site_id)
        self.started = False
        self._cancel: anyio.CancelScope | None = None
        self._ended: anyio.Event | None = None  # set when the running worker has ended
        self._task: asyncio.Task[None] | None = None  # when started without lifespan, on asyncio
        self._warned = False

    async def _open(self) -> None:
        _check_async_library(self.site.settings.store)
        self.site.reopen()
        if self.site.settings.redact_access_log:
            install_redaction()  # sign-in URLs carry envelopes, and servers log every request line
        # scrypt costs tens of ms per secret, the peers' HTTP clients (CA bundle) as much: off the loop.
        await anyio.to_thread.run_sync(_prepare, self.site)
        await self.site.admissions.start()  # the user-agent rules, in a thread too

    async def ensure_started(self) -> None:
        """At the first request: open the site and start the worker if lifespan did not."""
        if self.started:
            return
        self.started = True
        try:
            await self._open()
        except BaseException:
            self.started = False
            raise
        if sniffio.current_async_library() == "asyncio":
            # No task group outlives this request: a task of the loop, kept here.
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sessionsync-outbox")
        elif not self._warned:
            self._warned = True
            self.log.warning(
                "no ASGI lifespan: the outbox worker is not running, so failed sign-out messages "
                "are retried only when the server runs lifespan (enable it in your server)"
            )

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        ended = self._ended
        try:
            with anyio.CancelScope() as scope:
                self._cancel = scope
                async with anyio.create_task_group() as group:
                    for task in (housekeeping, idle_passes):
                        group.start_soon(task, self.site, self.log)
                    group.start_soon(self.site.hooks.run)
                    await self.site.courier.run(task_status=task_status)
        finally:
            if ended is not None:
                ended.set()

    async def _start_in(self, group: TaskGroup) -> None:
        self.started = True
        try:
            await self._open()
            self._ended = anyio.Event()
            await group.start(self._run)
        except BaseException:
            self._stop()
            self.started = False
            raise

    async def lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        refused = shutting_down = False
        failure: Exception | None = None
        async with anyio.create_task_group() as group:

            async def watched_receive() -> Message:
                nonlocal refused, shutting_down
                message: Message = await receive()
                if message["type"] == "lifespan.shutdown" and not shutting_down:
                    shutting_down = True
                    await self._stop_for_shutdown()
                elif message["type"] == "lifespan.startup" and not self.started:
                    try:
                        await self._start_in(group)
                    except SessionSyncError as error:
                        refused = True
                        await send({"type": "lifespan.startup.failed", "message": f"asgi-sessionsync: {error}"})
                        raise StartupRefused(str(error)) from None
                return message

            async def watched_send(message: Message) -> None:
                if refused:
                    return  # the server heard why already
                if message["type"] in _CLOSING:
                    await self.aclose()
                await send(message)

            try:
                await app(scope, watched_receive, watched_send)
            except Exception as error:
                # Raised again below, outside the task group, so that the server sees the
                # app's own error (an app without lifespan support, a failed start-up),
                # not an exception group of ours.
                if not refused:
                    failure = error
            finally:
                # However the app's lifespan ended, nothing started for it runs on; an
                # app that failed at shutdown without saying so is closed after all.
                self._stop()
                self.started = False
                if shutting_down and not self.site.closed:
                    with anyio.CancelScope(shield=True):
                        await self.site.aclose()
        if failure is not None:
            raise failure

    async def _stop_for_shutdown(self) -> None:
        """Lifespan shutdown: the worker stops at once, before the app shuts down (a
        delivery in flight is dropped: its message stays in the outbox, due again at the
        next start). Says how many messages wait. The stores stay open for the app's own
        shutdown; a sign-out made then is delivered inline."""
        task, ended = self._stop()
        if ended is not None:
            await ended.wait()
        elif task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        waiting = await waiting_messages(self.site)
        self.log.info("outbox worker stopped at shutdown: %s message(s) wait in the outbox for the next start", waiting)

    def _stop(self) -> tuple[asyncio.Task[None] | None, anyio.Event | None]:
        if self._cancel is not None:
            self._cancel.cancel()
            self._cancel = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        ended, self._ended = self._ended, None
        return task, ended

    async def stop(self) -> None:
        """Stop the worker and wait until it has ended (the site stays open)."""
        task, ended = self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # also when it was cancelled before it ever ran
        elif ended is not None:
            await ended.wait()
        self.started = False

    async def aclose(self) -> None:
        """Stop the worker; close the HTTP client and the stores."""
        await self.stop()
        await self.site.aclose()
