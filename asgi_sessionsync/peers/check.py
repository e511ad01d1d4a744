"""What ``peers check`` (and the console's network page) says of every peer, what works, what does not, and what to fix.

Five checks a peer, asked from this site's configuration (its keys, its URL):

- **browser URL** answers ``GET ping`` (a ``*.localhost`` name that this machine does
  not resolve is asked at 127.0.0.1, as browsers resolve it);
- **back-channel URL** answers ``GET ping`` — this server must reach it by itself;
- **same key**: the authenticated ping: the peer opens what this site seals, and this
  site opens the peer's answer;
- **lists this site**: the peer accepts this site as one of its peers;
- **clock** within ``SESSIONSYNC_CLOCK_SKEW`` (the offset is shown);

and, from this site's store, the **outbox**: what is queued for the peer, how much of it
failed, the age of the oldest and the last error (a warning while some failed).
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.peers.backlog import Backlog, backlogs
from asgi_sessionsync.peers.client import PeerEntry, tls_context
from asgi_sessionsync.peers.ping import PingResult, Problem, explain, is_localhost_name, ping, transport_problem
from asgi_sessionsync.protocol import Endpoint
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import open_stores
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url


class Status(enum.StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    WARN = "warn"
    SKIPPED = "-"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class PeerReport:
    network: str
    url: str
    backchannel_url: str
    checks: list[Check] = field(default_factory=list)
    offset: float | None = None
    # What waits for the peer in this site's outbox: queued, failing, oldest_age (seconds),
    # attempts, last_error; None when not looked at.
    outbox: dict[str, object] | None = None

    @property
    def ok(self) -> bool:
        return all(c.status is not Status.FAIL for c in self.checks)


async def check_peers(
    settings: Settings,
    *,
    seconds: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    outbox: Mapping[str, Backlog] | str | None = None,
    tokens: Tokens | None = None,
    http: httpx.AsyncClient | None = None,
) -> list[PeerReport]:
    """Every peer's report. ``outbox``: what this site's outbox holds per peer
    (:func:`~asgi_sessionsync.peers.backlog.backlogs`) for an outbox check, or why it could
    not be read; None: no outbox check. ``tokens`` and ``http``: a running site's (the
    console's: its keys derived and its client built already, off the event loop), else
    made from ``settings`` (every request here names its own time limit)."""
    tokens = tokens if tokens is not None else Tokens(settings)
    limit = seconds if seconds is not None else settings.peer_timeout
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            verify = tls_context(settings.peer_ca_file)  # the CAs the site's own peer requests trust
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, timeout=limit, verify=verify))
        reports = []
        for entry in settings.peers():
            report = await _check(http, tokens, settings, entry, limit)
            if outbox is not None:
                _outbox_check(report, entry[1].site_id, outbox, time.time())
            reports.append(report)
    return reports


async def read_outbox(settings: Settings) -> dict[str, Backlog] | str:
    """This site's pending messages per peer, or why they cannot be read (a store that is
    not there is never created)."""
    try:
        stores = open_stores(settings.store, create=False)
    except StoreError as error:
        return str(error)
    try:
        return backlogs(await stores.outbox.pending())
    except StoreError as error:
        return str(error)
    finally:
        await stores.close()


def _outbox_check(report: PeerReport, origin: str, outbox: Mapping[str, Backlog] | str, now: float) -> None:
    if isinstance(outbox, str):
        report.checks.append(Check("outbox", Status.SKIPPED, f"not checked: {outbox}"))
        return
    backlog = outbox.get(origin)
    if backlog is None:
        report.outbox = {"queued": 0, "failing": 0, "oldest_age": None, "attempts": 0, "last_error": ""}
        report.checks.append(Check("outbox", Status.OK, "nothing queued for this peer"))
        return
    report.outbox = {
        "queued": backlog.queued,
        "failing": backlog.failing,
        "oldest_age": round(backlog.age(now), 1),
        "attempts": backlog.attempts,
        "last_error": backlog.last_error,
    }
    if not backlog.failing:
        report.checks.append(Check("outbox", Status.OK, backlog.describe(now)))
        return
    report.checks.append(
        Check(
            "outbox",
            Status.WARN,
            backlog.describe(now),
            "fix what fails above: the worker sends them once the peer takes them; to send them now: python -m "
            f"asgi_sessionsync outbox retry --peer {origin} (outbox drop --peer {origin} gives them up)",
        )
    )


async def _liveness(http: httpx.AsyncClient, url: str, limit: float) -> tuple[Problem | None, str]:
    try:
        response = await http.get(url, timeout=limit)
    except httpx.HTTPError as error:
        return transport_problem(error)
    if response.status_code == 204:
        return None, ""
    if response.status_code >= 500:
        return Problem.SERVER_ERROR, f"HTTP {response.status_code}"
    return Problem.NO_PING, f"HTTP {response.status_code}"


async def _check(
    http: httpx.AsyncClient, tokens: Tokens, settings: Settings, entry: PeerEntry, limit: float
) -> PeerReport:
    network, peer = entry
    report = PeerReport(network.name, peer.url, peer.backchannel_url)
    me = settings.site_id
    prefix = settings.path_prefix

    def failed(name: str, problem: Problem, url: str, detail: str = "", peer_site: str | None = None) -> Check:
        what, fix = explain(problem, url=url, origin=peer.site_id, asker=me, detail=detail, peer_site=peer_site)
        return Check(name, Status.FAIL, what, fix)

    browser_ping = endpoint_url(peer.url, prefix, Endpoint.PING)
    problem, detail = await _liveness(http, browser_ping, limit)
    host = urlsplit(peer.url).hostname or ""
    if problem is Problem.UNRESOLVED and is_localhost_name(host):
        # Browsers resolve *.localhost to the loopback address themselves: ask there.
        parts = urlsplit(browser_ping)
        loopback = urlunsplit(parts._replace(netloc=parts.netloc.replace(host, "127.0.0.1", 1)))
        problem, detail = await _liveness(http, loopback, limit)
        if problem is None:
            report.checks.append(
                Check("browser URL", Status.OK, f"{peer.url} answers (at 127.0.0.1, as browsers resolve *.localhost)")
            )
    if not report.checks:
        if problem is None:
            report.checks.append(Check("browser URL", Status.OK, f"{peer.url} answers"))
        elif problem is Problem.UNRESOLVED and not is_localhost_name(host):
            # Only browsers need this name; a server may not resolve it (split DNS).
            report.checks.append(
                Check(
                    "browser URL",
                    Status.WARN,
                    f"{host} does not resolve on this server, so it cannot be checked from here",
                    "make sure browsers can reach it",
                )
            )
        else:
            report.checks.append(failed("browser URL", problem, browser_ping, detail))

    back_ping = endpoint_url(peer.backchannel_url, prefix, Endpoint.PING)
    problem, detail = await _liveness(http, back_ping, limit)
    if problem is not None:
        report.checks.append(failed("back-channel URL", problem, back_ping, detail))
        for name in ("same key", "lists this site", "clock"):
            report.checks.append(Check(name, Status.SKIPPED, "not checked: the back-channel URL does not answer"))
        return report
    same = peer.backchannel_url == peer.url
    report.checks.append(
        Check("back-channel URL", Status.OK, f"{peer.backchannel_url} answers" + (" (the browser URL)" if same else ""))
    )

    result = await ping(http, tokens, entry, prefix, limit)
    report.offset = result.offset
    report.checks += _key_checks(result, failed)
    report.checks.append(_clock_check(result, settings.clock_skew))
    return report


def _key_checks(result: PingResult, failed: Callable[..., Check]) -> list[Check]:
    if result.legacy:
        return [
            Check("same key", Status.WARN, "not checked: the peer runs an older asgi-sessionsync", "upgrade the peer"),
            Check("lists this site", Status.WARN, "not checked: the peer runs an older asgi-sessionsync"),
        ]
    if result.ok:
        return [
            Check("same key", Status.OK, "each site opens what the other seals"),
            Check("lists this site", Status.OK, "the peer accepts this site as its peer"),
        ]
    problem = result.problem
    assert problem is not None
    if problem is Problem.NOT_LISTED:
        return [
            Check("same key", Status.OK, "the peer opens what this site seals"),
            failed("lists this site", problem, result.url),
        ]
    return [
        failed("same key", problem, result.url, result.detail, result.peer_site),
        Check("lists this site", Status.SKIPPED, "not checked: the authenticated ping failed"),
    ]


def _clock_check(result: PingResult, skew: float) -> Check:
    offset = result.offset
    if offset is None:
        return Check("clock", Status.SKIPPED, "not checked: the peer did not give its time")
    shown = f"offset {offset:+.2f} s" + ("" if result.ok else " (unauthenticated)")
    if abs(offset) <= skew:
        return Check("clock", Status.OK, f"{shown}, within {skew:g} s")
    direction = "ahead of" if offset > 0 else "behind"
    return Check(
        "clock",
        Status.FAIL,
        f"{shown}: the peer's clock is {abs(offset):.1f} s {direction} this one's (tolerance {skew:g} s)",
        "set both clocks right (NTP); sign-in still works, envelopes are sealed in the peer's time",
    )
