"""Peer health: which peers answer well, and each peer's clock offset.

Before a browser is sent to a peer, :class:`PeerHealth` asks whether it answers: one probe in
flight per peer, shared by every caller; a good answer is trusted for a second, a failure for
three. A peer is down on connection refused, a name that does not resolve, a 5xx, or two timeouts
in a row; it is *misconfigured* (left out just the same, and logged once) when the authenticated
ping shows another key, or that the peer does not list this site. Health has its own small HTTP
client, so that its probes never queue behind the outbox's deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
import httpx

from asgi_sessionsync.hooks import Hooks, PeerUnreachable
from asgi_sessionsync.logs import SiteLog, package_log, site_log
from asgi_sessionsync.peers.client import PeerClient, PeerEntry
from asgi_sessionsync.peers.ping import PingResult, Problem, ping
from asgi_sessionsync.tokens import Tokens

health_logger = package_log("asgi_sessionsync.health")

SKEW_LOG_EVERY = 60.0  # seconds between two clock-offset errors about one peer


@dataclass
class _State:
    result: PingResult | None = None
    checked_at: float = float("-inf")  # monotonic
    up: bool | None = None
    inflight: anyio.Event | None = None
    offset_at: float = float("-inf")
    skew_logged_at: float = float("-inf")
    logged: Problem | None = None


class PeerHealth:
    """Which peers answer, so that no browser is sent to a site that is down or that
    would refuse it; and each peer's clock offset."""

    UP_FOR = 1.0  # seconds a good answer is trusted (status, clock offset)
    POINT_FOR = 0.1  # seconds a good answer is trusted before a browser is sent on it
    DOWN_FOR = 3.0  # seconds a failure is trusted before asking again
    OFFSET_FOR = 600.0  # seconds a measured clock offset is used without measuring again

    def __init__(
        self,
        tokens: Tokens,
        prefix: str,
        timeout: float,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock_skew: float = 5.0,
        peers: int = 2,
        ca_file: str | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.tokens = tokens
        self.hooks = hooks if hooks is not None else Hooks()
        self.prefix = prefix
        self.timeout = min(timeout, 1.0)
        self.clock_skew = clock_skew
        # Its own small pool: probes never wait behind the outbox's deliveries.
        limits = httpx.Limits(max_connections=max(4, 2 * peers), max_keepalive_connections=peers)
        self.client = PeerClient(self.timeout, transport, limits, ca_file=ca_file)
        self.on_recovered: Callable[[str], Awaitable[None]] | None = None
        self.log = site_log(health_logger.name, tokens.site_id)
        self.probes = 0  # pings sent, for tests and benchmarks
        self._states: dict[str, _State] = {}

    def state_of(self, origin: str) -> PingResult | None:
        state = self._states.get(origin)
        return state.result if state else None

    async def alive(self, peers: Sequence[PeerEntry], *, up_for: float | None = None) -> list[PeerEntry]:
        """The peers that answered well within ``up_for`` seconds (default
        :attr:`UP_FOR`; asked now otherwise, sharing a probe already in flight). A
        failure is trusted for :attr:`DOWN_FOR` whatever ``up_for`` says, so callers
        never wait on the time-outs of a peer known to be down."""
        if not peers:
            return []
        if len(peers) == 1:
            return list(peers) if (await self.check(peers[0], up_for=up_for)).ok else []
        results: dict[str, PingResult] = {}

        async def one(entry: PeerEntry) -> None:
            results[entry[1].site_id] = await self.check(entry, up_for=up_for)

        async with anyio.create_task_group() as group:
            for entry in peers:
                group.start_soon(one, entry)
        return [(n, p) for n, p in peers if results[p.site_id].ok]

    async def check(self, entry: PeerEntry, max_age: float | None = None, *, up_for: float | None = None) -> PingResult:
        """The peer's last verdict if fresh enough, else a new probe shared by every
        caller asking meanwhile (one in flight per peer)."""
        origin = entry[1].site_id
        state = self._states.setdefault(origin, _State())
        while True:
            result = state.result
            age = time.monotonic() - state.checked_at
            up = self.UP_FOR if up_for is None else up_for
            limit = max_age if max_age is not None else (up if result is not None and result.ok else self.DOWN_FOR)
            if result is not None and age <= limit:
                return result
            if state.inflight is None:
                break
            await state.inflight.wait()
            if state.result is not None and state.result is not result:
                return state.result
        state.inflight = anyio.Event()
        try:
            result = await self._probe(entry)
            await self._record(entry, state, result)
        finally:
            event, state.inflight = state.inflight, None
            event.set()
        return result

    async def offset(self, entry: PeerEntry) -> float:
        """The peer's clock minus ours, measured within :attr:`OFFSET_FOR` (0 when it
        cannot be measured); sealing for the peer uses it."""
        origin = entry[1].site_id
        state = self._states.get(origin)
        if state is None or time.monotonic() - state.offset_at > self.OFFSET_FOR:
            await self.check(entry, max_age=0 if state is None or state.result is None else self.UP_FOR)
        return self.tokens.offsets.get(origin, 0.0)

    async def _probe(self, entry: PeerEntry) -> PingResult:
        result = None
        for _ in range(2):  # a timeout is asked again once: it may be our own load
            self.probes += 1
            result = await ping(self.client.http, self.tokens, entry, self.prefix, self.timeout)
            if result.problem is not Problem.TIMEOUT:
                return result
        assert result is not None
        return result

    async def _record(self, entry: PeerEntry, state: _State, result: PingResult) -> None:
        origin = entry[1].site_id
        now = time.monotonic()
        state.result, state.checked_at = result, now
        was_up, state.up = state.up, result.ok
        if result.ok:
            if result.offset is not None:
                self.tokens.offsets[origin] = result.offset
                state.offset_at = now
                _check_skew(self.log, origin, state, result.offset, self.clock_skew)
            if state.logged is not None:
                self.log.info("peer %s answers well again; back in sign-in sync", origin)
            elif result.legacy and was_up is None:
                self.log.warning(
                    "peer %s answers only the plain ping (an older asgi-sessionsync): its key, its peer list and its "
                    "clock cannot be checked; upgrade it",
                    origin,
                )
            state.logged = None
            if was_up is False and self.on_recovered is not None:
                await self.on_recovered(origin)
            return
        problem = result.problem
        assert problem is not None
        if state.logged is not problem:
            state.logged = problem
            what, fix = result.explain(self.tokens.site_id)
            log = self.log.warning if problem.down else self.log.error
            log(
                "peer %s left out of sign-in sync: %s%s; to fix: %s",
                origin,
                what,
                "" if problem.down else " (misconfigured)",
                fix,
            )
            await self.hooks.emit(PeerUnreachable(self.tokens.site_id, origin, problem.value, what))

    def mark_down(self, entry: PeerEntry, problem: Problem, detail: str) -> None:
        """A delivery to the peer's current back-channel URL could not connect: trust
        that like a failed probe."""
        state = self._states.setdefault(entry[1].site_id, _State())
        if state.inflight is None:
            state.result = PingResult(entry[1].site_id, entry[1].backchannel_url, problem, detail)
            state.checked_at, state.up = time.monotonic(), False

    async def aclose(self) -> None:
        await self.client.aclose()


def _check_skew(log: SiteLog, origin: str, state: _State, offset: float, clock_skew: float) -> None:
    """Log (at most once a minute per peer) a peer clock further off than the tolerance."""
    if abs(offset) <= clock_skew:
        return
    now = time.monotonic()
    if now - state.skew_logged_at < SKEW_LOG_EVERY:
        return
    state.skew_logged_at = now
    log.error(
        "clock of peer %s is %.1f s %s this site's (tolerance SESSIONSYNC_CLOCK_SKEW=%gs): envelopes for it are "
        "sealed in its time, but set both clocks right (NTP)",
        origin,
        abs(offset),
        "ahead of" if offset > 0 else "behind",
        clock_skew,
    )
