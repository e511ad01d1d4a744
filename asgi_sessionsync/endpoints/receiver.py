"""``POST backchannel``: signed messages from peers, applied once each (claimed before
they are applied, :mod:`.once`: copies that arrive together are "already applied").

Every refusal gets one uniform answer (``400 refused``): a prober learns nothing about
why. The reason goes to the log, at most once per reason per minute so that a flood
of bad requests cannot flood the log. A body that stalls is given up after the peer
timeout; a body over the size limit is refused without reading the rest.

Each message's outcome goes to the activity log (:mod:`asgi_sessionsync.activity`),
recorded in one place, :meth:`BackchannelReceiver.__call__`, from the
:class:`~asgi_sessionsync.activity.Receipt` filled on the way. A refusal of something
that is not an authentic envelope is recorded only when it is logged, for the same
reason (nobody can fill the activity log by posting garbage).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.types import Receive

from asgi_sessionsync.activity import Receipt
from asgi_sessionsync.endpoints.once import APPLIED_MESSAGE_MEMORY, AppliedOnce
from asgi_sessionsync.endpoints.reply import Reply, empty, text
from asgi_sessionsync.envelope import Claims
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.hooks import AppMessage
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.protocol import (
    ANSWERS,
    APP_PREFIX,
    OUTCOME_HEADER,
    AppMessagePayload,
    LogoutPayload,
    Purpose,
    UserActionPayload,
    message_kind,
)
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import Outcome
from asgi_sessionsync.trust import app_message_refusal
from asgi_sessionsync.validation import email_or_none

logger = package_log("asgi_sessionsync.endpoints")

__all__ = ["APPLIED_MESSAGE_MEMORY", "MAX_MESSAGE_BYTES", "BackchannelReceiver"]

MAX_MESSAGE_BYTES = 64 * 1024
LOG_EVERY = 60.0  # seconds between two log lines for the same kind of refusal

REFUSED = text(400, "refused")


class BackchannelReceiver:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = site_log(logger.name, site.site_id)
        self._logged: dict[str, float] = {}
        self.once = AppliedOnce(site)

    def _refuse(self, reason: str, receipt: Receipt | None = None) -> Reply:
        now = time.monotonic()
        logged = now - self._logged.get(reason, -LOG_EVERY) >= LOG_EVERY
        if logged:
            self._logged[reason] = now
            self.log.warning("back-channel message refused: %s (repeats are not logged for a minute)", reason)
        if receipt is not None and (receipt.peer or logged):
            receipt.done(Outcome.REFUSED, reason)
        return REFUSED

    async def __call__(self, receive: Receive, host: str | None) -> Reply:
        """One message, from the client address ``host`` (as the trusted-proxy rules give it)."""
        receipt = Receipt()
        reply: Reply | None = None
        with anyio.move_on_after(max(self.site.settings.peer_timeout, 1.0) * 5):
            body = await _read_body(receive)
            reply = await self._handle(body, receipt, host)
        if reply is None:
            reply = self._refuse("the body did not arrive in time", receipt)
        await self.site.activity.received(receipt)  # the one place a received message is recorded
        return _with_outcome(reply, receipt)

    async def _handle(self, body: bytes | None, receipt: Receipt, host: str | None) -> Reply:
        site = self.site
        if body is None:
            return text(413, "message too large")
        try:
            token = body.decode("ascii").strip()
        except UnicodeDecodeError:
            return self._refuse("not an envelope", receipt)
        try:
            claims = site.tokens.open(token, Purpose.BACKCHANNEL, ip=None)
        except EnvelopeError as error:
            if error.claims is not None:  # authentic, refused for its time or a replay
                receipt.about(error.claims)
            return self._refuse(str(error.reason), receipt)
        receipt.about(claims)
        rules = site.rules.for_peer(claims.issuer)
        if not rules.admits_source(host):
            # Before it is claimed: a copy from the peer's own address still applies.
            return self._refuse(
                f"sent from {host or 'an unknown address'}, not from one of {claims.issuer}'s sources"
                f" ({rules.sources_described}: the network file's sources)",
                receipt,
            )
        return await self.once(claims.jti, receipt, lambda: self._apply(claims, receipt))

    async def _apply(self, claims: Claims, receipt: Receipt) -> Reply:
        """Apply one authentic message (its id claimed by this request: :mod:`.once`)."""
        site = self.site
        kind = message_kind(claims.extra)
        if kind == "user":
            return await self._user(claims.issuer, claims.subject, claims.extra, receipt)
        if kind is not None and kind.startswith(APP_PREFIX):
            return await self._app(claims, receipt)
        logout = LogoutPayload.from_wire(claims.extra, claims.issued_at)
        if logout is None or not claims.subject:
            return self._refuse("unknown message kind", receipt)
        email = email_or_none(claims.subject)
        whole_user = logout.chain is None
        user = await site.stores.users.get(email) if email is not None and whole_user else None
        refusal = await site.trust.sign_out(claims.issuer, email or "", user, whole_user=whole_user)
        if refusal is not None:
            # Authentic, but this site does not take it from that peer: answered as done,
            # so that the peer does not send it again for days.
            self.log.warning("sign-out of %s from %s refused: %s", email or "(not an email)", claims.issuer, refusal)
            receipt.done(Outcome.REFUSED, refusal)
            return empty()
        if email is None:
            # Authentic, but it names no user anyone could have: nothing to end. Taken as
            # applied, so that the peer does not send it again for days.
            self.log.warning("sign-out from %s ignored: it names something that is not an email", claims.issuer)
            ended = 0
            receipt.done(Outcome.APPLIED, "not an email: nothing to end")
        else:
            # The sign-out's age, from two times of the sender's (sealed in one clock): the
            # clocks of the two sites may differ, an age does not.
            age = max(0.0, claims.issued_at - logout.when)
            now = time.time()
            ended = await site.endings.apply_logout(
                email,
                chain=logout.chain,
                signed_out_at=now - age,
                issuer=claims.issuer,
                reason=logout.reason,
                seen_before=None if logout.seen_before is None else now - (claims.issued_at - logout.seen_before),
            )
            self.log.info("sign-out of %s from %s: %d session(s) ended here", email, claims.issuer, ended)
            receipt.done(Outcome.APPLIED, f"{ended} session(s) ended")
        return empty()  # recorded as applied by AppliedOnce

    async def _user(self, issuer: str, subject: str, extra: Mapping[str, Any], receipt: Receipt) -> Reply:
        """A change to a user. Applied, stale (an older version) and refused by this
        site's rules are all answered 200: the sender must not retry those for days; the
        outcome is in this site's log. A malformed one is refused like any bad message."""
        site = self.site
        payload = UserActionPayload.from_wire(extra)
        email = email_or_none(subject)
        if payload is None or email is None:
            return self._refuse("malformed user message", receipt)
        received = await site.users.receive(issuer, email, payload)
        receipt.done(*_activity_outcome(received.outcome))
        return empty()

    async def _app(self, claims: Claims, receipt: Receipt) -> Reply:
        """A message of the app's own kind: told to the ``app_message`` hooks when the
        network file accepts that kind from the peer. Refused ones are answered 200 too
        (the peer must not retry them for days), with the outcome ``refused``."""
        site = self.site
        payload = AppMessagePayload.from_wire(claims.extra)
        if payload is None:
            return self._refuse("malformed app message", receipt)
        refusal = app_message_refusal(site.rules, claims.issuer, payload.kind)
        if refusal is None and not site.hooks.has("app_message"):
            refusal = "no app_message hook receives it here"
        if refusal is not None:
            self.log.warning("%s message from %s refused: %s", payload.kind, claims.issuer, refusal)
            receipt.done(Outcome.REFUSED, refusal)
            return empty()
        user = email_or_none(claims.subject) or ""
        await site.hooks.emit(AppMessage(site.site_id, claims.issuer, payload.kind, payload.data, user))
        receipt.done(Outcome.APPLIED, "")
        return empty()


def _with_outcome(reply: Reply, receipt: Receipt) -> Reply:
    """An answer that tells the sender what became of its message (``OUTCOME_HEADER``):
    only a 2xx one, so only to a peer whose message was authentic."""
    said = receipt.outcome.value if receipt.outcome is not None else ""
    if reply.status >= 300 or said not in ANSWERS:
        return reply
    return reply._replace(headers=[*reply.headers, (OUTCOME_HEADER.encode(), said.encode())])


def _activity_outcome(said: str) -> tuple[Outcome, str]:
    """A user message's outcome (``usersync.outcomes.Received``) as the activity log says it."""
    if said == "applied":
        return Outcome.APPLIED, ""
    if said == "stale":
        return Outcome.STALE, ""
    if said == "deleted":
        return Outcome.STALE, "the user was deleted here by a newer change"
    if said.startswith("refused"):
        return Outcome.REFUSED, said.removeprefix("refused").lstrip(": ")
    return Outcome.REFUSED, said  # "unknown user": nothing to change


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
