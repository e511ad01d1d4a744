"""B asks a peer: the ``pull`` step."""

from __future__ import annotations

from starlette.types import Scope

from asgi_sessionsync.cookies import find_cookie
from asgi_sessionsync.endpoints.asking import BIND_LIFETIME, bind_hash, new_bind
from asgi_sessionsync.endpoints.frames import check_reply
from asgi_sessionsync.endpoints.reply import Reply, page, redirect, text
from asgi_sessionsync.endpoints.step_kit import NOT_VALID, StepKit, refused
from asgi_sessionsync.exceptions import EnvelopeFailure
from asgi_sessionsync.protocol import Mode
from asgi_sessionsync.urls import origin_of


class Pull:
    """A peer that has the session sent the browser here: set the bind cookie, ask it."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.site = kit.site
        self.log = kit.log

    async def pull(
        self, scope: Scope, cookies: bytes | None, issuer: str, chain: str, mode_name: str, checked: bool = False
    ) -> Reply:
        """A peer that has the session sent the browser here: set the bind cookie, ask it.

        In a frame, first a page that checks whether this frame's cookies are this
        site's own (``frame_check_page``); it comes back with ``checked`` set when they are."""
        site = self.site
        mode = Mode.FRAME if mode_name == Mode.FRAME else Mode.PAGE
        if not self.kit.navigates(scope, mode):
            self.log.warning(
                "sign-in pull refused: not a %s navigation", "frame" if mode is Mode.FRAME else "top-level"
            )
            return text(400, "not a navigation", self.kit.frame_headers(mode))
        entry = site.asking.peer(issuer)
        if entry is None:
            self.log.warning("sign-in pull refused: %s is not a peer of this site", issuer[:100] or "(no issuer)")
            return refused(EnvelopeFailure.WRONG_ISSUER)
        if not site.trust.accepts(issuer, "login"):
            self.log.warning("sign-in pull refused: login is not accepted from %s (network file)", issuer)
            return refused(EnvelopeFailure.WRONG_ISSUER)
        if not chain:
            return page(400, *NOT_VALID)
        if mode is Mode.FRAME and not checked:
            return check_reply(self.kit.frame_ancestors, scope, site.site_id, origin_of(issuer))
        nonce, value = new_bind(find_cookie(cookies, self.kit.names.bind))
        await site.health.offset(entry)  # the request is sealed in the asked site's time
        url = site.asking.request_url(
            entry, bind=bind_hash(nonce), chain=chain, return_url=None, mode=mode, ip=site.address.bind_value(scope)
        )
        cookie = self.kit.bind_policy[mode].set(self.kit.names.bind, value, BIND_LIFETIME)
        headers = [(b"set-cookie", cookie), *self.kit.frame_headers(mode)]
        if mode is Mode.PAGE and find_cookie(cookies, self.kit.names.seen) is not None:
            # The browser is signed in at the peer now, whatever an earlier catch-up found
            # here: should this pull not end in a session here (a step too late, a cookie
            # purged), the next page view asks again (issue #23).
            headers.append((b"set-cookie", self.site.cookies.delete(self.kit.names.seen)))
        return redirect(url, headers)
