"""Who may open the console, and who a request is (one place).

*Signed in here*: the request carries this site's session cookie (once: two cookies of
the name are neither trusted), it names an active session of this site's registry, and
the request is not a cross-site one that a ``Lax`` cookie would not have come with.

*An operator*: signed in here, and privileged here — the account's role here is one of
``SESSIONSYNC_PRIVILEGED_ROLES`` or the identity adapter calls it privileged (both as
:class:`~asgi_sessionsync.trust.PeerTrust` decides it), or the app's own check admits it
(``admit(request, user)``, sync or async: Django's ``is_staff``, a FastAPI dependency).
A session that a peer signed in (a hop, a frame, a catch-up) is refused unless that peer
is trusted for privileged sign-ins (``PeerTrust.trusted_for_privileged``): the console
is as strong as the weakest site that may put someone here.

Every refusal is logged (who, never a cookie) and answered with a page that says why.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from asgi_sessionsync.cookies import cookie_header, find_cookie
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import SessionRecord, User, peer_of
from asgi_sessionsync.users import site_of

logger = package_log("asgi_sessionsync.console")

#: The app's own check: given the request and the user here (None: not in this site's
#: user store), whether this person may open the console. Sync or async.
Admit = Callable[[HTTPConnection, User | None], bool | Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Viewer:
    """A person signed in on this site, as the console sees them."""

    site: Site
    email: str
    record: SessionRecord

    @property
    def sid(self) -> str:
        return self.record.sid

    @property
    def chain(self) -> str:
        return self.record.chain


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a request may not see the page: an HTTP status and words for the person."""

    status: int
    title: str
    message: str


NOT_SIGNED_IN = Refused(401, "Sign in first", "Sign in on this site to see this page.")
TWO_COOKIES = Refused(
    400, "Conflicting cookies", "This browser sent two cookies of this site's name: it cannot tell which is its own."
)


async def signed_in_here(request: HTTPConnection) -> Viewer | Refused:
    """The person this request is signed in as on this site, or why nobody is."""
    site = site_of(request)
    scope = request.scope
    cookies = cookie_header(scope["headers"])
    if cookies is not None and site.cookie_names.duplicated(cookies) is not None:
        return TWO_COOKIES
    if not fetch_metadata(scope).is_lax_visible(scope["method"]):
        return NOT_SIGNED_IN  # a cross-site subresource or POST: its cookies say nothing
    token = find_cookie(cookies, site.cookie_names.session)
    if token is None:
        return NOT_SIGNED_IN
    session = await site.resolver.resolve(token, site.address.bind_value(scope))
    if session is None:
        return NOT_SIGNED_IN
    record = await site.stores.sessions.get(session.sid)
    if record is None or not record.live(time.time()):
        return NOT_SIGNED_IN
    return Viewer(site, record.user, record)


class Guard:
    """Admits operators (see the module's doc); one per console."""

    def __init__(self, admit: Admit | None = None) -> None:
        self.admit = admit

    async def operator(self, request: HTTPConnection) -> Viewer | Refused:
        found = await signed_in_here(request)
        if isinstance(found, Refused):
            return found
        site = found.site
        log = site_log(logger.name, site.site_id)
        peer = peer_of(found.record.via)
        if peer is not None and not site.trust.trusted_for_privileged(peer):
            log.warning(
                "console refused %s: signed in by %s, a peer not in SESSIONSYNC_TRUSTED_FOR_PRIVILEGED",
                found.email,
                peer,
            )
            return Refused(
                403,
                "Sign in on this site",
                f"This session was signed in by {peer}, which is not trusted for privileged sign-ins here. "
                "Sign out and sign in on this site itself to open the console.",
            )
        user = await site.stores.users.get(found.email)
        if await site.trust.is_privileged(found.email, user) or await self._admitted(request, user):
            return found
        log.warning("console refused %s: not privileged on this site", found.email)
        return Refused(403, "Not allowed", "Your account may not open this site's console.")

    async def _admitted(self, request: HTTPConnection, user: User | None) -> bool:
        if self.admit is None:
            return False
        answer = self.admit(request, user)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer is True
