"""What an operator does to the outbox (``outbox retry`` / ``outbox drop``, the console's
buttons): try now what waits for a peer; give up messages, each written to the activity
log as abandoned."""

from __future__ import annotations

import time

from asgi_sessionsync.activity import ActivityRecorder
from asgi_sessionsync.peers.courier import Courier, drop, retry_now
from asgi_sessionsync.peers.delivery import Delivery
from asgi_sessionsync.stores import DROPPED_BY_OPERATOR, MessageStatus, Outbox, Outcome


async def retry_outbox(outbox: Outbox, courier: Courier, peer: str | None) -> tuple[list[Delivery], list[str]]:
    """Try now what waits for ``peer`` (an origin; None: every peer): the deliveries tried, and the
    ids still waiting behind one that failed (``outbox retry``, the console's button)."""
    pending = [m for m in await outbox.pending() if peer is None or m.peer == peer]
    now = time.time()
    for origin in sorted({m.peer for m in pending}):
        await retry_now(outbox, origin, now)
    # The outbox gives the first message of each queue (peer and user); as one is
    # delivered the next can go, so ask again until no queue moves.
    deliveries: list[Delivery] = []
    waiting = [m.id for m in pending]
    while waiting:
        tried = await courier.deliver(waiting)
        if not tried:
            break
        deliveries += tried
        done = {d.message.id for d in tried}
        waiting = [i for i in waiting if i not in done]
    return deliveries, waiting


async def drop_messages(outbox: Outbox, activity: ActivityRecorder, chosen: list[str]) -> int:
    """Give up these pending messages, each abandoned one written to the activity log
    (``outbox drop``, the console's button); how many were dropped."""
    count = await drop(outbox, chosen)
    for message_id in chosen:  # in the activity log, those this drop abandoned
        dropped = await outbox.get(message_id)
        if (
            dropped is not None
            and dropped.status is MessageStatus.ABANDONED
            and dropped.last_error == DROPPED_BY_OPERATOR
        ):
            await activity.outbox_message(dropped, Outcome.ABANDONED, DROPPED_BY_OPERATOR)
    return count
