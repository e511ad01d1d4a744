"""One attempt to deliver one queued back-channel message to its peer, and its back-off."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from asgi_sessionsync.logs import SiteLog, package_log
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.peers.client import PeerClient, PeerEntry
from asgi_sessionsync.peers.health import PeerHealth
from asgi_sessionsync.peers.ping import Problem, explain, transport_problem
from asgi_sessionsync.protocol import (
    ANSWERS,
    OUTCOME_HEADER,
    Endpoint,
    LogoutPayload,
    Purpose,
    from_outbox_form,
    outbox_form,
)
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.stores import Outbox, OutboxMessage, new_id
from asgi_sessionsync.tokens import Tokens
from asgi_sessionsync.urls import endpoint_url
from asgi_sessionsync.wprus.outbox import NETWORK as WORDPRESS
from asgi_sessionsync.wprus.outbox import deliver as deliver_wordpress

logger = package_log("asgi_sessionsync.backchannel")

RETRY_BASE = 1.0  # seconds before the first retry; doubles each time
RETRY_MAX = 300.0
MESSAGE_MAX_AGE = 3 * 86400.0  # older undelivered messages are abandoned (and logged)


@dataclass
class Delivery:
    """What became of one message in one attempt. ``answer``: what the peer said became of
    a delivered message (``applied``, ``already applied``, ``stale``, ``refused``; ``""``
    when it did not say: an older peer)."""

    message: OutboxMessage
    delivered: bool
    error: str = ""
    abandoned: bool = False
    answer: str = ""


def logout_peers(peers: Sequence[PeerEntry], rules: NetworkRules | None) -> list[PeerEntry]:
    """The peers sign-outs go to: those the network file sends ``logout`` to."""
    rules = rules or NetworkRules()
    return [entry for entry in peers if rules.for_peer(entry[1].site_id).sends("logout")]


def queued(entry: PeerEntry, email: str, wire: Mapping[str, Any], now: float) -> OutboxMessage:
    """A back-channel message for the peer of ``entry``, due ``now``: the payload's
    ``wire`` form, whose kind (``"k"``) goes to the message's own column."""
    network, peer = entry
    kind, payload = outbox_form(wire, email)
    return OutboxMessage(
        id=new_id(),
        network=network.name,
        peer=peer.site_id,
        url=peer.backchannel_url,
        kind=kind,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )


def logout_messages(
    peers: Sequence[PeerEntry],
    email: str,
    chain: str | None,
    when: float,
    reason: str | None,
    seen_before: float | None,
    now: float,
) -> list[OutboxMessage]:
    """One sign-out message per peer, due ``now``, for the outbox."""
    wire = LogoutPayload(chain, when, reason, seen_before).to_wire()
    return [queued(entry, email, wire, now) for entry in peers]


class Sender:
    """Sends one claimed message to its peer's current back-channel URL, then records what
    became of it in the outbox: delivered, due again after an exponential back-off with
    jitter, or abandoned (too old, or for a peer no longer configured)."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        tokens: Tokens,
        client: PeerClient,
        health: PeerHealth,
        by_origin: Mapping[str, PeerEntry],
        log: SiteLog,
        recovered: Callable[[str], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.tokens = tokens
        self.client = client
        self.health = health
        self._by_origin = by_origin
        self.log = log
        # Called when a message that had failed before goes through: the peer is back.
        self.recovered = recovered

    async def send(self, message: OutboxMessage) -> Delivery:
        if message.network == WORDPRESS:
            return await self._send_wordpress(message)
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
        subject, extra = from_outbox_form(message.kind, message.payload)
        peer_now = self.tokens.peer_time(peer.site_id)
        logout = LogoutPayload.from_wire(extra, int(message.created_at))
        if logout is not None:
            # The sign-out's time in the envelope's own time (the peer's): the receiver
            # reads the message's age from the two, whatever the clocks say.
            extra = logout._replace(when=peer_now - max(0.0, time.time() - logout.when)).to_wire()
        token = self.tokens.seal_for_peer(
            network.name,
            peer.site_id,
            Purpose.BACKCHANNEL,
            subject=subject,
            ttl=self.settings.backchannel_lifetime,
            ip="",
            jti=message.id.encode("ascii"),
            extra=extra,
            now=peer_now,
        )
        url = endpoint_url(peer.backchannel_url, self.settings.path_prefix, Endpoint.BACKCHANNEL)
        error: str
        explained = ""  # what is wrong and what to fix, when the error alone does not say
        try:
            response = await self.client.http.post(url, content=token, headers={"content-type": "text/plain"})
        except httpx.HTTPError as exc:
            problem, detail = transport_problem(exc)
            error = type(exc).__name__
            if problem in (Problem.REFUSED, Problem.UNRESOLVED):
                self.health.mark_down(entry, problem, error)
            elif problem.tls:  # a ConnectError, but the peer answered: say what TLS refused
                error = str(problem)
                what, fix = explain(problem, url=url, origin=peer.site_id, asker=self.settings.site_id, detail=detail)
                explained = f": {what}; to fix: {fix}"
        else:
            if 200 <= response.status_code < 300:
                await self.outbox.delivered(message.id, time.time())
                answer = response.headers.get(OUTCOME_HEADER, "")
                answer = answer if answer in ANSWERS else ""
                if answer == "refused":
                    self.log.warning(
                        "%s message %s to %s refused by that peer (its log says why); not sent again",
                        message.kind,
                        message.id[:12],
                        message.peer,
                    )
                else:
                    self.log.info(
                        "%s message delivered to %s%s", message.kind, message.peer, f": {answer}" * bool(answer)
                    )
                if message.attempts > 0:
                    # It had failed before: the peer is back, so the rest of its queue goes now.
                    await self.recovered(message.peer)
                return Delivery(message, True, answer=answer)
            error = f"HTTP {response.status_code}"
            if response.status_code >= 500 and not stale:
                self.health.mark_down(entry, Problem.SERVER_ERROR, error)
        return await self._failed(message, error, explained)

    async def _send_wordpress(self, message: OutboxMessage) -> Delivery:
        """A message to a WordPress site (asgi_sessionsync/wprus/outbox.py)."""
        rules = self.settings.user_sync.network_rules
        site = rules.wprus_site(message.peer) if rules is not None else None
        if site is None:
            await self.outbox.failed(
                message.id, error="site no longer configured", next_attempt_at=time.time(), abandon=True
            )
            self.log.error(
                "message %s to WordPress %s abandoned: no longer in the network file", message.id[:12], message.peer
            )
            return Delivery(message, False, "site no longer configured", abandoned=True)
        error = await deliver_wordpress(self.client.http, site, message)
        if error is not None:
            return await self._failed(message, error, "")
        await self.outbox.delivered(message.id, time.time())
        action = message.payload.get("a")
        self.log.info(
            "user %s delivered to WordPress %s (WordPress does not say whether it applied it)", action, message.peer
        )
        return Delivery(message, True)

    async def _failed(self, message: OutboxMessage, error: str, explained: str) -> Delivery:
        attempts = message.attempts + 1
        now = time.time()
        delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        abandon = now - message.created_at > MESSAGE_MAX_AGE
        await self.outbox.failed(message.id, error=error, next_attempt_at=now + delay, abandon=abandon)
        log = self.log.error if abandon else self.log.warning
        log(
            "%s message to %s failed (%s), attempt %d; %s%s",
            message.kind,
            message.peer,
            error,
            attempts,
            "abandoned: too old" if abandon else f"retrying in {delay:.1f}s",
            explained,
        )
        return Delivery(message, False, error, abandoned=abandon)
