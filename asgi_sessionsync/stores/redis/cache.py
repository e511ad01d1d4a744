"""The per-process cache of active session records, emptied by the channel
``{prefix}:ended-sessions``; see :mod:`asgi_sessionsync.stores.redis`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any, cast

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from asgi_sessionsync.exceptions import StoreUnavailable
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.stores.availability import Availability
from asgi_sessionsync.stores.base import (
    SessionRecord,
)
from asgi_sessionsync.stores.redis.connection import RedisConnection

logger = package_log("asgi_sessionsync.stores.redis")


class KnownSessions:
    """The active records this process read from Redis, each with when it read it, for
    an outage: while the server does not answer, ``get`` answers a session read at most
    ``grace`` seconds before whose end this process has not heard of (the channel drops
    ended ones here too). Emptied when the subscription is made again, since what was
    published while it was lost is unknown. ``grace`` 0: nothing is kept."""

    def __init__(self, grace: float, size: int) -> None:
        self.grace = grace
        self.size = size
        self._records: dict[str, tuple[float, SessionRecord]] = {}

    def remember(self, record: SessionRecord) -> None:
        if self.grace <= 0:
            return
        self._records.pop(record.sid, None)
        if len(self._records) >= self.size:
            del self._records[next(iter(self._records))]
        self._records[record.sid] = (time.monotonic(), record)

    def get(self, sid: str) -> SessionRecord | None:
        hit = self._records.get(sid)
        if hit is None or time.monotonic() - hit[0] > self.grace:
            return None
        return hit[1]

    def instead_of(self, error: StoreUnavailable, sid: str, availability: Availability) -> SessionRecord:
        """The server does not answer (``error``): the session as this process last read
        it, if that was within ``grace`` and no end of it was heard since; else ``error``."""
        known = self.get(sid)
        if known is None:
            raise error
        availability.note("signed-in requests served from this process's cache")
        return known

    def touched(self, sid: str, when: float) -> None:
        hit = self._records.get(sid)
        if hit is not None:
            self._records[sid] = (hit[0], dataclasses.replace(hit[1], last_seen_at=when))

    def forget(self, sids: list[str]) -> None:
        for sid in sids:
            self._records.pop(sid, None)

    def clear(self) -> None:
        self._records.clear()


class ActiveSessionCache:
    """Active session records of this process, each dropped as soon as the channel
    ``{prefix}:ended-sessions`` says it ended; used only while that subscription is confirmed.
    See the module docstring."""

    SIZE = 10_000
    PING_EVERY = 5.0  # seconds between PINGs on the subscription
    SILENCE_LIMIT = 10.0  # seconds without any answer after which the subscription is lost
    RETRY_AFTER = 1.0

    def __init__(self, conn: RedisConnection, *, max_age: float, outage_grace: float = 0.0) -> None:
        self.conn = conn
        self.max_age = max_age
        self.known = KnownSessions(outage_grace if max_age > 0 else 0.0, self.SIZE)  # for an outage
        self.epoch = 0  # bumped by every invalidation and (re)subscription
        self._records: dict[str, tuple[float, SessionRecord]] = {}
        self._listening = False  # the subscription is confirmed: the cache may answer
        self._listener: asyncio.Task[None] | None = None
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def usable(self) -> bool:
        """Listening now (the listener is started on first use)."""
        if self.max_age <= 0 or self._stopping:
            return False
        loop = asyncio.get_running_loop()
        if self._listener is None or self._listener_loop is not loop or self._listener.done():
            # First use, or a listener of another (finished) event loop: start afresh.
            self._forget_all()
            self._listener_loop = loop
            self._listener = loop.create_task(self._listen(), name="sessionsync-redis-invalidations")
        return self._listening

    def get(self, sid: str) -> SessionRecord | None:
        hit = self._records.get(sid)
        if hit is None or time.monotonic() - hit[0] >= self.max_age:
            return None
        return hit[1]

    def remember(self, record: SessionRecord, epoch: int) -> None:
        """Keep ``record`` if it is active and was read entirely after the subscription
        was confirmed with no invalidation heard meanwhile (``epoch`` taken before the
        read is still current): that invalidation might have been about this sid."""
        if not (record.active and self._listening and epoch == self.epoch):
            return
        if len(self._records) >= self.SIZE:
            del self._records[next(iter(self._records))]
        self._records[record.sid] = (time.monotonic(), record)
        self.known.remember(record)

    def touched(self, sid: str, when: float) -> None:
        hit = self._records.get(sid)
        if hit is not None:
            self._records[sid] = (hit[0], dataclasses.replace(hit[1], last_seen_at=when))
        self.known.touched(sid, when)

    def forget(self, sids: list[str]) -> None:
        self.epoch += 1
        for sid in sids:
            self._records.pop(sid, None)
        self.known.forget(sids)

    def _forget_all(self) -> None:
        self._listening = False
        self.epoch += 1
        self._records.clear()

    async def _listen(self) -> None:
        while not self._stopping:
            pubsub: PubSub = self.conn.client.pubsub()
            try:
                await pubsub.subscribe(self.conn.channel)
                heard = pinged = time.monotonic()
                while not self._stopping:
                    message = await pubsub.get_message(timeout=self.PING_EVERY)
                    now = time.monotonic()
                    if message is not None:
                        heard = now
                        kind = message["type"]
                        if kind == "message":
                            self.forget(str(message["data"]).split())
                        elif kind == "subscribe":
                            # (Re)subscribed: what was published in between is lost.
                            self._forget_all()
                            self.known.clear()
                            self._listening = True
                        elif kind == "unsubscribe":
                            self._forget_all()
                    if now - heard > self.SILENCE_LIMIT:
                        raise ConnectionError("no answer to PING on the invalidation channel")
                    if now - pinged >= self.PING_EVERY:
                        await pubsub.ping()
                        pinged = now
            except asyncio.CancelledError:
                self._forget_all()
                raise
            except (RedisError, OSError) as error:
                lost = self._listening  # said once per loss: attempts to subscribe again are quiet
                self._forget_all()
                if self._stopping:  # redis-py may turn a cancellation into a connection error
                    return
                if lost:
                    logger.warning(
                        "Redis store %s: session invalidations lost (%s: %s); reading every session from Redis"
                        " until they are back",
                        self.conn.shown_as,
                        type(error).__name__,
                        error,
                    )
                await asyncio.sleep(self.RETRY_AFTER)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(cast(Any, pubsub).aclose())

    async def close(self) -> None:
        self._stopping = True
        task, self._listener = self._listener, None
        self._forget_all()
        self.known.clear()
        if task is None or self._listener_loop is not asyncio.get_running_loop():
            return
        # Cancel until it ends: redis-py can swallow a cancellation that lands while
        # it (re)connects, and the loop above then stops at its next turn.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()
