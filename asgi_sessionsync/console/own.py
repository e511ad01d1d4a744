"""A user's own sessions, for the account page and for apps that draw their own:
``list_sessions(request)``, ``end_session(request, id)``, ``end_other_sessions(request)``.

What is listed is this site's registry of the signed-in user's active sessions, each a
browser whose sign-in reached this site (a sign-in is synced to every peer, so each
browser signed in anywhere in the network shows here once it has been here, by sync or
catch-up): its device, country, address, when it started and was last seen, the site
where it signed in, and whether it is this very browser. Ending one ends its sign-in
here and on every site (:meth:`~asgi_sessionsync.sessions.signout.SignOuts.this_browser`).
A user may end only their own sessions: an id that is not one of theirs ends nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from asgi_sessionsync.console.guard import Refused, Viewer, signed_in_here
from asgi_sessionsync.console.listing import came_from, device_text
from asgi_sessionsync.stores import Direction, Outcome, SessionRecord

ENDED_BY_USER = "ended by the user"


@dataclass(frozen=True, slots=True)
class OwnSession:
    """One of the signed-in user's sessions, as their page shows it."""

    id: str
    site: str  # the site that holds it (this one)
    signed_in_at: str  # where the sign-in was made: "this site" or a peer's origin
    device: str
    country: str
    address: str
    started_at: float
    last_seen_at: float
    current: bool  # this very browser


def _shown(viewer: Viewer, record: SessionRecord) -> OwnSession:
    return OwnSession(
        id=record.sid,
        site=viewer.site.site_id,
        signed_in_at=came_from(record),
        device=device_text(record),
        country=record.country,
        address=record.ip,
        started_at=record.created_at,
        last_seen_at=record.last_seen_at,
        current=record.chain == viewer.chain,
    )


async def sessions_of(viewer: Viewer) -> list[OwnSession]:
    now = time.time()
    records = await viewer.site.stores.sessions.active(viewer.email)
    return [_shown(viewer, r) for r in records if r.live(now)]


async def list_sessions(request: HTTPConnection) -> list[OwnSession]:
    """The signed-in user's sessions (see the module's doc); [] when nobody is signed in here."""
    viewer = await signed_in_here(request)
    return [] if isinstance(viewer, Refused) else await sessions_of(viewer)


async def end_own(viewer: Viewer, sid: str) -> bool:
    record = await viewer.site.stores.sessions.get(sid)
    if record is None or record.user != viewer.email or record.ended_at is not None:
        return False
    await viewer.site.sign_outs.this_browser(record.user, record.chain, reason=ENDED_BY_USER)
    await _record(viewer, f"session {sid[:8]} ended (its sign-in, every site)")
    return True


async def end_others(viewer: Viewer) -> int:
    chains = {r.chain for r in await viewer.site.stores.sessions.active(viewer.email) if r.chain != viewer.chain}
    for chain in sorted(chains):
        await viewer.site.sign_outs.this_browser(viewer.email, chain, reason=ENDED_BY_USER)
    if chains:
        await _record(viewer, f"{len(chains)} other sign-in(s) ended, every site")
    return len(chains)


async def end_session(request: HTTPConnection, id: str) -> bool:
    """End one of the signed-in user's sessions (its sign-in, on every site); False when
    nobody is signed in here or ``id`` is not an active session of theirs."""
    viewer = await signed_in_here(request)
    return False if isinstance(viewer, Refused) else await end_own(viewer, id)


async def end_other_sessions(request: HTTPConnection) -> int:
    """End every sign-in of the signed-in user but this browser's; how many."""
    viewer = await signed_in_here(request)
    return 0 if isinstance(viewer, Refused) else await end_others(viewer)


async def _record(viewer: Viewer, reason: str) -> None:
    await viewer.site.activity.record(
        Direction.LOCAL,
        peer="",
        kind="account.end-session",
        user=viewer.email,
        outcome=Outcome.APPLIED,
        reason=reason,
        actor=viewer.email,
    )
