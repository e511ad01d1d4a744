"""Talking to peers: the authenticated ping, peer health, and the back-channel courier.

**Ping.** ``POST <back-channel URL><prefix>ping`` carries an envelope of purpose
``ping`` sealed for the peer; the peer answers with one of its own sealed for the
asker, echoing the asker's nonce and giving its time. A good answer proves that both
sites hold the network's key, that the peer lists the asker among its peers (it opens
only envelopes of members) and how far apart the clocks are. ``GET ping`` stays a
plain liveness answer (204).

**Health.** Before a browser is sent to a peer, :class:`PeerHealth` asks whether it
answers: one probe in flight per peer, shared by every caller; a good answer is trusted
for a second, a failure for three. A peer is down on connection refused, a name that
does not resolve, a 5xx, or two timeouts in a row; it is *misconfigured* (left out just
the same, and logged once) when the authenticated ping shows another key, or that the
peer does not list this site. Health has its own small HTTP client, so that its probes
never queue behind the outbox's deliveries.

**Courier.** A sign-out writes one message per peer into the outbox *before* anything
is sent, so a crash or a peer that is down loses nothing: the courier retries with
exponential back-off until the peer answers 2xx or the message is too old to matter.
Each message keeps its id across retries and the receiver applies an id once. A peer
seen alive again (a probe or a delivery succeeds) gets its queued messages at once.
Messages follow the current configuration: they go to the peer's current back-channel
URL, and a message for a peer no longer configured is abandoned.

Everything here runs on any async library anyio supports (asyncio, trio).
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpx
from anyio.abc import TaskGroup, TaskStatus

from asgi_sessionsync.exceptions import EnvelopeError, EnvelopeFailure, SessionSyncError
from asgi_sessionsync.keys import Purpose
from asgi_sessionsync.logs import site_log
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.protocol import Endpoint, LogoutPayload, PingAnswer
from asgi_sessionsync.settings import Network, Peer, Settings
from asgi_sessionsync.stores import Outbox, OutboxMessage, new_id
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url

logger = logging.getLogger("asgi_sessionsync.backchannel")
health_logger = logging.getLogger("asgi_sessionsync.health")

RETRY_BASE = 1.0  # seconds before the first retry; doubles each time
RETRY_MAX = 300.0
MESSAGE_MAX_AGE = 3 * 86400.0  # older undelivered messages are abandoned (and logged)
POLL_INTERVAL = 1.0
RECOVERY_EVERY = 5.0  # seconds between two probes of a peer that has messages waiting
SKEW_LOG_EVERY = 60.0  # seconds between two clock-offset errors about one peer
TIME_HEADER = "x-sessionsync-time"
SITE_HEADER = "x-sessionsync-site"
MAX_PING_BYTES = 16 * 1024

PeerEntry = tuple[Network, Peer]


class PeerClient:
    """An HTTP client for peers, made on first use (building one costs tens of ms)."""

    def __init__(
        self,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self._timeout = timeout
        self._transport = transport
        self._limits = limits
        self._client: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._client is None:
            if self._transport is not None:
                self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
            else:
                self._client = httpx.AsyncClient(
                    verify=_tls_context(), timeout=self._timeout, limits=self._limits or httpx.Limits()
                )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: loading the CA bundle costs tens
    of milliseconds, and a site has two clients (deliveries, health)."""
    return httpx.create_ssl_context()


# --- the ping -------------------------------------------------------------------------


class Problem(enum.StrEnum):
    """Why a peer failed its ping. The first four mean down; the others, misconfigured."""

    REFUSED = "refused"
    UNRESOLVED = "unresolved"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server error"
    NO_PING = "no ping"
    PEER_LACKS_KEY = "peer lacks key"
    SITE_LACKS_KEY = "site lacks key"
    NOT_LISTED = "not listed"
    OTHER_SITE = "other site"
    BAD_ANSWER = "bad answer"

    @property
    def down(self) -> bool:
        return self in _DOWN


_DOWN = frozenset({Problem.REFUSED, Problem.UNRESOLVED, Problem.TIMEOUT, Problem.SERVER_ERROR})


@dataclass(frozen=True, slots=True)
class PingResult:
    """One ping of one peer. ``problem`` None: both sites hold the key, the peer lists
    this site, and ``offset`` (the peer's clock minus ours, seconds) was measured.
    ``legacy``: the peer answers a plain ping only (an older version): up, unverified."""

    origin: str
    url: str  # the ping URL asked
    problem: Problem | None = None
    detail: str = ""
    offset: float | None = None  # authenticated when problem is None
    peer_site: str | None = None  # the site the peer says it is (x-sessionsync-site)
    seconds: float = 0.0
    legacy: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None

    def explain(self, asker: str) -> tuple[str, str]:
        """(what is wrong, what to fix), in plain words."""
        return (
            explain(
                self.problem,
                url=self.url,
                origin=self.origin,
                asker=asker,
                detail=self.detail,
                peer_site=self.peer_site,
            )
            if self.problem
            else ("", "")
        )


def is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def explain(
    problem: Problem, *, url: str, origin: str, asker: str, detail: str = "", peer_site: str | None = None
) -> tuple[str, str]:
    """What a :class:`Problem` means and what to fix, for logs and ``peers check``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    base = f"{parts.scheme}://{parts.netloc}"
    peers_example = f'SESSIONSYNC_PEERS="{origin}|http://127.0.0.1:PORT"'
    if problem is Problem.UNRESOLVED:
        if is_localhost_name(host):
            return (
                f"{host} does not resolve on this server (browsers resolve *.localhost themselves; "
                "Python's resolver does not)",
                f"give the peer a back-channel URL this server can reach: {peers_example}",
            )
        return (
            f"{host} does not resolve on this server",
            f"correct the host name, or give a back-channel URL: {peers_example}",
        )
    if problem is Problem.REFUSED:
        return (
            f"nothing answers at {base} (connection refused)",
            "start the peer, or correct its back-channel URL (SESSIONSYNC_PEERS=BROWSER_URL|BACKCHANNEL_URL)",
        )
    if problem is Problem.TIMEOUT:
        return (
            f"no answer from {base} in time ({detail or 'twice'})",
            "check that the peer is up and that this server can reach it (firewall, proxy), "
            "or raise SESSIONSYNC_PEER_TIMEOUT",
        )
    if problem is Problem.SERVER_ERROR:
        return (f"{base} answered {detail or 'a server error'}", "look at the peer's log")
    if problem is Problem.NO_PING:
        return (
            f"{base} answered {detail or 'an error'}: no asgi-sessionsync there",
            "point the back-channel URL at the peer's app, and use the same SESSIONSYNC_PATH_PREFIX on both sites",
        )
    if problem is Problem.PEER_LACKS_KEY:
        return (
            "the peer cannot open what this site seals: it does not hold this site's first secret key",
            "give both sites the same SESSIONSYNC_SECRET_KEYS (the first key seals, every key opens)",
        )
    if problem is Problem.SITE_LACKS_KEY:
        return (
            "this site cannot open what the peer seals: it does not hold the peer's first secret key",
            "give both sites the same SESSIONSYNC_SECRET_KEYS (the first key seals, every key opens)",
        )
    if problem is Problem.NOT_LISTED:
        return (
            f"the peer does not list this site ({asker}) among its peers",
            f"add {asker} to the peer's SESSIONSYNC_PEERS",
        )
    if problem is Problem.OTHER_SITE:
        return (
            f"the site at {base} is {peer_site or 'another site'}, not {origin}",
            f"list that site under its own SESSIONSYNC_SITE_URL, or point the back-channel URL of {origin} at it",
        )
    return (
        f"the peer's answer is not valid ({detail or 'unreadable'})",
        "run the same asgi-sessionsync version on both sites",
    )


def transport_problem(error: httpx.HTTPError) -> tuple[Problem, str]:
    if isinstance(error, httpx.TimeoutException):
        return Problem.TIMEOUT, type(error).__name__
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return Problem.UNRESOLVED, str(cause)
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return Problem.UNRESOLVED, str(error)
    return Problem.REFUSED, type(error).__name__


async def ping(
    http: httpx.AsyncClient,
    tokens: Tokens,
    entry: PeerEntry,
    prefix: str,
    limit: float,
    *,
    url: str | None = None,
) -> PingResult:
    """One authenticated ping of ``entry`` at its back-channel URL (or ``url``)."""
    network, peer = entry
    target = endpoint_url(url or peer.backchannel_url, prefix, Endpoint.PING)
    nonce = os.urandom(16)
    token = tokens.seal_for_peer(
        network.name, peer.origin, Purpose.PING, subject="", ttl=60, ip="", extra={}, jti=nonce
    )
    asked_at = tokens.clock()
    started = time.monotonic()
    try:
        response = await http.post(target, content=token, headers={"content-type": "text/plain"}, timeout=limit)
    except httpx.HTTPError as error:
        problem, detail = transport_problem(error)
        return PingResult(peer.origin, target, problem, detail, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    answered_at = tokens.clock()
    peer_site = response.headers.get(SITE_HEADER)
    told = _float(response.headers.get(TIME_HEADER))
    # Unauthenticated, shown when the ping fails: the midpoint of the round trip.
    offset = None if told is None else told - (asked_at + answered_at) / 2
    status = response.status_code

    def failed(problem: Problem, detail: str = "") -> PingResult:
        return PingResult(peer.origin, target, problem, detail, offset, peer_site, seconds)

    if status >= 500:
        return failed(Problem.SERVER_ERROR, f"HTTP {status}")
    if status == 204:
        # A plain liveness answer to the authenticated ping: alive, nothing verified.
        return PingResult(peer.origin, target, None, "", None, peer_site, seconds, legacy=True)
    if status == 405:
        # An older peer: it answers GET ping only. Up, but nothing could be verified.
        try:
            plain = await http.get(target, timeout=limit)
        except httpx.HTTPError as error:
            return failed(*transport_problem(error))
        if plain.status_code == 204:
            return PingResult(peer.origin, target, None, "", None, peer_site, seconds, legacy=True)
        return failed(Problem.NO_PING, f"HTTP {plain.status_code}")
    if peer_site is not None and peer_site.lower().rstrip("/") != peer.origin:
        return failed(Problem.OTHER_SITE)
    if status == 403:
        reason = response.text.strip().removeprefix("refused:").strip()
        if reason == EnvelopeFailure.WRONG_ISSUER:
            return failed(Problem.NOT_LISTED)
        if reason == EnvelopeFailure.WRONG_AUDIENCE:
            return failed(Problem.OTHER_SITE)
        return failed(Problem.PEER_LACKS_KEY, reason)
    if status != 200:
        return failed(Problem.NO_PING, f"HTTP {status}")
    try:
        claims = tokens.open(response.text.strip(), Purpose.PING, ip=None, any_time=True)
    except EnvelopeError as error:
        if error.reason in (EnvelopeFailure.UNKNOWN_KEY, EnvelopeFailure.BAD_TAG):
            return failed(Problem.SITE_LACKS_KEY, str(error.reason))
        if error.reason in (EnvelopeFailure.WRONG_ISSUER, EnvelopeFailure.WRONG_AUDIENCE):
            return failed(Problem.OTHER_SITE, str(error.reason))
        return failed(Problem.BAD_ANSWER, str(error.reason))
    answer = PingAnswer.from_wire(claims.extra)
    if claims.issuer != peer.origin:
        return PingResult(peer.origin, target, Problem.OTHER_SITE, "", offset, claims.issuer, seconds)
    if answer is None or answer.nonce != nonce:
        return failed(Problem.BAD_ANSWER, "not an answer to this ping")
    offset = answer.time - (asked_at + answered_at) / 2
    return PingResult(peer.origin, target, None, "", offset, peer_site, seconds)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def answer_ping(tokens: Tokens, body: bytes) -> tuple[int, bytes, EnvelopeFailure | None]:
    """The answer to a ``POST ping``: (status, body, why it was refused). A refusal names
    the envelope failure: only the holder of a network key can learn more than "unknown
    key" from it, and a site's own URL and time are no secret."""
    try:
        token = body.decode("ascii").strip()
        claims = tokens.open(token, Purpose.PING, ip=None, any_time=True)
    except UnicodeDecodeError:
        return 403, b"refused: malformed", EnvelopeFailure.MALFORMED
    except EnvelopeError as error:
        return 403, f"refused: {error.reason}".encode(), error.reason
    answer = PingAnswer(claims.jti, tokens.clock())
    sealed = tokens.seal_for_peer(
        claims.network, claims.issuer, Purpose.PING, subject="", ttl=60, ip="", extra=answer.to_wire()
    )
    return 200, sealed.encode("ascii"), None


# --- health ---------------------------------------------------------------------------


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

    UP_FOR = 1.0  # seconds a good answer is trusted before a browser is sent on it
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
    ) -> None:
        self.tokens = tokens
        self.prefix = prefix
        self.timeout = min(timeout, 1.0)
        self.clock_skew = clock_skew
        # Its own small pool: probes never wait behind the outbox's deliveries.
        self.client = PeerClient(
            self.timeout, transport, httpx.Limits(max_connections=max(4, 2 * peers), max_keepalive_connections=peers)
        )
        self.on_recovered: Callable[[str], Awaitable[None]] | None = None
        self.log = site_log(health_logger.name, tokens.origin)
        self.probes = 0  # pings sent, for tests and benchmarks
        self._states: dict[str, _State] = {}

    def state_of(self, origin: str) -> PingResult | None:
        state = self._states.get(origin)
        return state.result if state else None

    async def alive(self, peers: Sequence[PeerEntry]) -> list[PeerEntry]:
        """The peers that answered well within the last second (asked now otherwise)."""
        if not peers:
            return []
        results: dict[str, PingResult] = {}

        async def one(entry: PeerEntry) -> None:
            results[entry[1].origin] = await self.check(entry)

        if len(peers) == 1:
            await one(peers[0])
        else:
            async with anyio.create_task_group() as group:
                for entry in peers:
                    group.start_soon(one, entry)
        return [(n, p) for n, p in peers if results[p.origin].ok]

    async def check(self, entry: PeerEntry, max_age: float | None = None) -> PingResult:
        """The peer's last verdict if fresh enough, else a new probe shared by every
        caller asking meanwhile (one in flight per peer)."""
        origin = entry[1].origin
        state = self._states.setdefault(origin, _State())
        while True:
            result = state.result
            age = time.monotonic() - state.checked_at
            limit = max_age if max_age is not None else (self.UP_FOR if result and result.ok else self.DOWN_FOR)
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
        origin = entry[1].origin
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
        origin = entry[1].origin
        now = time.monotonic()
        state.result, state.checked_at = result, now
        was_up, state.up = state.up, result.ok
        if result.ok:
            if result.offset is not None:
                self.tokens.offsets[origin] = result.offset
                state.offset_at = now
                self._check_skew(origin, state, result.offset)
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
            what, fix = result.explain(self.tokens.origin)
            log = self.log.warning if problem.down else self.log.error
            log(
                "peer %s left out of sign-in sync: %s%s; to fix: %s",
                origin,
                what,
                "" if problem.down else " (misconfigured)",
                fix,
            )

    def _check_skew(self, origin: str, state: _State, offset: float) -> None:
        if abs(offset) <= self.clock_skew:
            return
        now = time.monotonic()
        if now - state.skew_logged_at < SKEW_LOG_EVERY:
            return
        state.skew_logged_at = now
        self.log.error(
            "clock of peer %s is %.1f s %s this site's (tolerance SESSIONSYNC_CLOCK_SKEW=%gs): envelopes for it are "
            "sealed in its time, but set both clocks right (NTP)",
            origin,
            abs(offset),
            "ahead of" if offset > 0 else "behind",
            self.clock_skew,
        )

    def mark_down(self, entry: PeerEntry, problem: Problem, detail: str) -> None:
        """A delivery to the peer's current back-channel URL could not connect: trust
        that like a failed probe."""
        state = self._states.setdefault(entry[1].origin, _State())
        if state.inflight is None:
            state.result = PingResult(entry[1].origin, entry[1].backchannel_url, problem, detail)
            state.checked_at, state.up = time.monotonic(), False

    async def aclose(self) -> None:
        await self.client.aclose()


# --- the courier ----------------------------------------------------------------------


async def retry_now(outbox: Outbox, peer: str, now: float) -> int:
    """Make every pending message for ``peer`` due at ``now``; how many moved earlier."""
    return await outbox.retry_now(peer, now)


async def drop(outbox: Outbox, ids: Sequence[str]) -> int:
    """Abandon these pending messages ("dropped by operator"); how many."""
    return await outbox.drop(list(ids))


@dataclass
class Delivery:
    """What became of one message in one attempt."""

    message: OutboxMessage
    delivered: bool
    error: str = ""
    abandoned: bool = False


class Courier:
    """Queues back-channel messages for peers and delivers them; one per site."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        tokens: Tokens,
        client: PeerClient,
        health: PeerHealth,
        peers: Sequence[PeerEntry],
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.tokens = tokens
        self.client = client
        self.health = health
        self.peers = tuple(peers)
        self._by_origin = {peer.origin: (network, peer) for network, peer in self.peers}
        self.lease = settings.peer_timeout * 2 + 5.0
        self.log = site_log(logger.name, settings.origin)
        health.on_recovered = self.peer_recovered
        # Made by the running worker (anyio objects need a running event loop).
        self._wake: anyio.Event | None = None
        self._group: TaskGroup | None = None

    async def broadcast_logout(
        self,
        email: str,
        *,
        chain: str | None,
        when: float,
        wait: bool = True,
        reason: str | None = None,
        seen_before: float | None = None,
    ) -> None:
        """Queue a sign-out for every peer, then try to deliver it now.

        With ``wait``, the caller waits at most ``logout_wait`` for the peers to confirm,
        so the next page load on a peer is already signed out; what is not confirmed by
        then stays queued for the worker (its lease runs out, then it is due again).
        """
        now = time.time()
        payload = LogoutPayload(chain, when, reason, seen_before).to_wire()
        payload.pop("k")  # the message's kind has its own column
        rules = self.settings.network_rules or NetworkRules()
        messages = [
            OutboxMessage(
                id=new_id(),
                network=network.name,
                peer=peer.origin,
                url=peer.backchannel_url,
                kind="logout",
                payload={"sub": email, **payload},
                created_at=now,
                next_attempt_at=now,
            )
            for network, peer in self.peers
            if rules.for_peer(peer.origin).sends("logout")  # the network file may keep a peer's sign-outs home
        ]
        await self.dispatch(messages, wait=self.settings.logout_wait if wait else 0.0)

    async def dispatch(self, messages: list[OutboxMessage], *, wait: float) -> None:
        """Write ``messages`` to the outbox, then try to deliver them now; wait at most
        ``wait`` seconds for the peers to confirm (what is not confirmed by then stays
        queued for the worker: its lease runs out, then it is due again)."""
        if not messages:
            return
        await self.outbox.add(messages)
        ids = [m.id for m in messages]
        group = self._group
        if group is None:
            # No worker (no lifespan): deliver here, as long as we may wait.
            with anyio.move_on_after(max(wait, self.settings.peer_timeout)):
                await self.deliver(ids)
            return
        done = anyio.Event()

        async def deliver_then_tell() -> None:
            try:
                await self.deliver(ids)
            finally:
                done.set()

        # Delivery goes on in the worker's task group after the wait ends.
        group.start_soon(deliver_then_tell)
        if wait > 0:
            with anyio.move_on_after(wait):
                await done.wait()

    async def deliver(self, ids: list[str]) -> list[Delivery]:
        claimed = await self.outbox.claim(ids, time.time(), self.lease)
        return await self._send_all(claimed)

    async def deliver_due(self, now: float | None = None) -> int:
        """Send every message due by ``now``; return how many were attempted."""
        claimed = await self.outbox.claim_due(time.time() if now is None else now, self.lease)
        await self._send_all(claimed)
        return len(claimed)

    async def peer_recovered(self, origin: str) -> None:
        """A peer answers again: its queued messages are due now, and the worker wakes."""
        moved = await retry_now(self.outbox, origin, time.time())
        if moved:
            self.log.info("peer %s is reachable again: %d queued message(s) sent now", origin, moved)
            if self._wake is not None:
                self._wake.set()

    async def _send_all(self, messages: Sequence[OutboxMessage]) -> list[Delivery]:
        results: list[Delivery] = []

        async def send(message: OutboxMessage) -> None:
            results.append(await self._send(message))

        if len(messages) == 1:
            await send(messages[0])
        elif messages:
            async with anyio.create_task_group() as group:
                for message in messages:
                    group.start_soon(send, message)
        return results

    @property
    def running(self) -> bool:
        return self._group is not None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The retry worker: deliver what is due, forever (cancel to stop). Sign-outs
        also deliver in its task group, so they outlive the request that made them.
        Every few seconds it asks after the peers whose messages wait, so that a peer
        back up gets them at once rather than at the end of its back-off. ``task_status``
        is told once the worker takes sign-outs (for ``TaskGroup.start``)."""
        async with anyio.create_task_group() as group:
            self._group = group
            task_status.started()
            last_probe = time.monotonic()
            try:
                while True:
                    self._wake = anyio.Event()
                    try:
                        await self.deliver_due()
                        if time.monotonic() - last_probe >= RECOVERY_EVERY:
                            last_probe = time.monotonic()
                            await self._probe_waiting()
                    except SessionSyncError as error:  # a store hiccup: say so, try again next round
                        self.log.error("outbox delivery round failed (%s); retrying", error)
                    except Exception:  # the worker must outlive anything; a bug deserves its traceback
                        self.log.exception("outbox delivery round failed; retrying")
                    with anyio.move_on_after(POLL_INTERVAL):
                        await self._wake.wait()
            finally:
                self._group = self._wake = None

    async def _probe_waiting(self) -> None:
        """Ask after each peer whose messages wait in a long back-off (past any lease: not
        in flight); one that answers well gets them now."""
        later = time.time() + self.lease + RECOVERY_EVERY
        waiting = {m.peer for m in await self.outbox.pending() if m.next_attempt_at > later}
        entries = [self._by_origin[o] for o in sorted(waiting) if o in self._by_origin]

        async def probe(entry: PeerEntry) -> None:
            if (await self.health.check(entry, RECOVERY_EVERY)).ok:
                await self.peer_recovered(entry[1].origin)

        if entries:
            async with anyio.create_task_group() as group:
                for entry in entries:
                    group.start_soon(probe, entry)

    async def _send(self, message: OutboxMessage) -> Delivery:
        entry = self._by_origin.get(message.peer)
        if entry is None:
            # The peer was removed from the configuration: nobody to tell any more.
            await self.outbox.failed(
                message.id, error="peer no longer configured", next_attempt_at=time.time(), abandon=True
            )
            self.log.error(
                "%s message %s to %s abandoned: that peer is no longer configured (SESSIONSYNC_PEERS)",
                message.kind,
                message.id[:12],
                message.peer,
            )
            return Delivery(message, False, "peer no longer configured", abandoned=True)
        network, peer = entry
        # The current back-channel URL and network, whatever they were when it was queued.
        stale = message.url != peer.backchannel_url or message.network != network.name
        await self.health.offset(entry)
        payload = message.payload
        peer_now = self.tokens.peer_time(peer.origin)
        extra = {"k": message.kind, **{k: v for k, v in payload.items() if k != "sub"}}
        logout = LogoutPayload.from_wire(extra, int(message.created_at))
        if logout is not None:
            # The sign-out's time in the envelope's own time (the peer's): the receiver
            # reads the message's age from the two, whatever the clocks say.
            extra = logout._replace(when=peer_now - max(0.0, time.time() - logout.when)).to_wire()
        token = self.tokens.seal_for_peer(
            network.name,
            peer.origin,
            Purpose.BACKCHANNEL,
            subject=str(payload.get("sub", "")),
            ttl=self.settings.backchannel_lifetime,
            ip="",
            jti=message.id.encode("ascii"),
            extra=extra,
            now=peer_now,
        )
        url = endpoint_url(peer.backchannel_url, self.settings.path_prefix, Endpoint.BACKCHANNEL)
        error: str
        try:
            response = await self.client.http.post(url, content=token, headers={"content-type": "text/plain"})
        except httpx.HTTPError as exc:
            problem, _detail = transport_problem(exc)
            error = type(exc).__name__
            if problem in (Problem.REFUSED, Problem.UNRESOLVED):
                self.health.mark_down(entry, problem, error)
        else:
            if 200 <= response.status_code < 300:
                await self.outbox.delivered(message.id, time.time())
                self.log.info("%s message delivered to %s", message.kind, message.peer)
                if message.attempts > 0:
                    # It had failed before: the peer is back, so the rest of its queue goes now.
                    await self.peer_recovered(message.peer)
                return Delivery(message, True)
            error = f"HTTP {response.status_code}"
            if response.status_code >= 500 and not stale:
                self.health.mark_down(entry, Problem.SERVER_ERROR, error)
        attempts = message.attempts + 1
        now = time.time()
        delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        abandon = now - message.created_at > MESSAGE_MAX_AGE
        await self.outbox.failed(message.id, error=error, next_attempt_at=now + delay, abandon=abandon)
        log = self.log.error if abandon else self.log.warning
        log(
            "%s message to %s failed (%s), attempt %d; %s",
            message.kind,
            message.peer,
            error,
            attempts,
            "abandoned: too old" if abandon else f"retrying in {delay:.1f}s",
        )
        return Delivery(message, False, error, abandoned=abandon)
