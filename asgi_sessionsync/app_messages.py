"""The app's own messages to its peers: a signed payload of a kind the app names
(``app.<name>``), sent through the outbox and the back-channel like a sign-out, under the
same per-peer rules as the built-in actions::

    # the network file, on both sites
    [defaults]
    "app.notes" = "both"

    # the sender
    from asgi_sessionsync.app_messages import send_message

    await send_message(request, "app.notes", {"text": "hello"}, user=request.user.email)

    # the receiver
    @hooks.on("app_message")
    async def received(event: AppMessage) -> None:  # event.peer, .kind, .payload, .user
        ...

A kind is sent to each peer whose rules ``send`` it and applied from a peer whose rules
``accept`` it; a kind declared nowhere is neither (sending one raises
:class:`~asgi_sessionsync.exceptions.MessageRefused`). On the receiving site a message
is opened and checked as every back-channel message is (sealed for this site by a peer of
its network, fresh, from the peer's ``sources``, applied once), then the network file
decides (:func:`asgi_sessionsync.trust.app_message_refusal`);
a refused one, or one no ``app_message`` hook receives, is logged and recorded in the
activity log as refused, and the sender's activity log says so. Delivery is the outbox's:
durable, retried with back-off, one queue per peer and user, in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from asgi_sessionsync.exceptions import MessageRefused
from asgi_sessionsync.network_rules import APP_KIND
from asgi_sessionsync.peers.delivery import queued
from asgi_sessionsync.protocol import AppMessagePayload
from asgi_sessionsync.users import Target, site_of
from asgi_sessionsync.validation import email_or_none

#: The largest payload, as compact JSON (the envelope must stay within the receiver's
#: 64 KiB limit for a back-channel message, with room for the seal and the subject).
MAX_PAYLOAD_BYTES = 32 * 1024

__all__ = ["MAX_PAYLOAD_BYTES", "send_message"]


async def send_message(
    target: Target, kind: str, payload: Any, *, user: str | None = None, peers: Iterable[str] | None = None
) -> list[str]:
    """Queue ``payload`` (JSON values) as a message of ``kind`` for every peer whose rules
    send that kind (only those of ``peers``, origins, when given), and start delivering it;
    the origins it was queued for. ``user``: an address the message is about (the
    receiver's hook is told it; messages about one user reach a peer in order). Returns
    once the messages are in the outbox; delivery goes on in the background."""
    site = site_of(target)
    if not APP_KIND.fullmatch(kind):
        raise MessageRefused(f"{kind!r} is not an app kind: app.<name>, 1-40 of a-z 0-9 _ -")
    if kind not in site.rules.app_kinds():
        raise MessageRefused(
            f"{kind} is not declared in the network file ({site.rules.source}): "
            f'declare it, e.g. "{kind}" = "both" under [defaults] or a peer\'s table'
        )
    subject = ""
    if user is not None:
        email = email_or_none(user)
        if email is None:
            raise MessageRefused("user= must be an email address")
        subject = email
    try:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise MessageRefused(
            f"the payload must be JSON values (dict, list, str, int, float, bool, None): {error}"
        ) from None
    if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise MessageRefused(f"the payload is over {MAX_PAYLOAD_BYTES} bytes as JSON")
    wanted = None if peers is None else {origin.rstrip("/").lower() for origin in peers}
    wire = AppMessagePayload(kind, json.loads(text)).to_wire()
    now = time.time()
    messages = [
        queued(entry, subject, wire, now)
        for entry in site.peers
        if (wanted is None or entry[1].site_id in wanted) and site.rules.for_peer(entry[1].site_id).sends(kind)
    ]
    if not messages:
        site.log.info("%s: no peer is sent this kind (network file %s)", kind, site.rules.source)
        return []
    await site.courier.dispatch(messages, wait=0.0)
    return [m.peer for m in messages]
