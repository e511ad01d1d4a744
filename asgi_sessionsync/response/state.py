"""What a request came in as, carried from before the app to its response."""

from __future__ import annotations

from collections.abc import Sequence

from asgi_sessionsync.sessions import ActiveSession

PENDING_LIFETIME = 300  # seconds a sign-in waits for a page it can start the sync from
Headers = list[tuple[bytes, bytes]]


def no_store(headers: Headers) -> Headers:
    """``headers`` with the app's ``Cache-Control`` replaced by ``no-store``: the response
    carries a single-use step of this browser's sign-in (a chain token in its
    ``Location``, frame or bounce URLs in its body), which no cache may keep or replay."""
    return [*((k, v) for k, v in headers if k.lower() != b"cache-control"), (b"cache-control", b"no-store")]


class RequestState:
    """Who the request came in as, and what reconciling it with the app found.

    A plain class whose defaults live on the class: made on every signed-in request,
    it sets only what it is given (a dataclass's ``__init__`` would write all nine)."""

    session: ActiveSession | None = None
    stale: bool = False  # a cookie named a session that is no longer valid
    pending: str | None = None  # the pending-sync cookie
    forgotten: Sequence[bytes] = ()  # Set-Cookie values removing an app login
    adopted: str | None = None  # the user of an app login made without the middleware seeing it
    cookies: bytes | None = None  # the request's Cookie header
    # The app did not see its own login only because the request came from another site
    # (its cookie's SameSite kept it home): an app that answers "nobody" did not sign out.
    app_blind: bool = False
    # The middleware's cookies were not read (emulated Lax; two cookies of one name): nothing
    # is concluded from the request; only a sign-in the app makes during it counts, kept here.
    blind: bool = False
    # On such a request, the user the app's own login named as it came in.
    standing: str | None = None

    def __init__(self, *, cookies: bytes | None = None, blind: bool = False) -> None:
        self.cookies = cookies
        if blind:
            self.blind = True

    def __repr__(self) -> str:  # never the Cookie header
        return f"RequestState(session={self.session!r}, stale={self.stale}, blind={self.blind})"

    @property
    def quiet(self) -> bool:
        return not (self.stale or self.forgotten or self.pending is not None or self.adopted is not None)
