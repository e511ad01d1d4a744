"""A signed-in session as a request sees it, and how often its "last seen" is written."""

from __future__ import annotations

from typing import NamedTuple

TOUCH_EVERY = 60.0  # seconds between two "last seen" writes of one session


class ActiveSession(NamedTuple):
    """A signed-in session, as the request sees it."""

    sid: str
    user: str
    name: str
    role: str
    chain: str
    # False for a login that must stay on this site: adopted from the app's own cookie,
    # or made by a request from another site. Such a session is never vouched for.
    shared: bool = True
    # The network a peer's sign-in came through: vouched for in that network only, so
    # that sign-in never crosses from one network into another. None: this site's own.
    network: str | None = None
    # Whether the address is known to be verified (see SessionPayload): vouched for as
    # such to the peers that pull this session.
    email_verified: bool = False
    # When the sign-in was made (epoch seconds; see SessionPayload.signed_in_at): told to
    # the peers that pull this session, as an age.
    signed_in_at: float = 0.0
