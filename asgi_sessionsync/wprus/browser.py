"""The plugin's browser-side actions answered here: ``GET <prefix>wprus/login/`` and
``logout/`` with ``?wprusdata=…&token=…`` (docs/design.md, "WP Remote Users Sync").

The WordPress site sends the browser in one of two ways: a hidden ``<iframe>`` on its
next page (async mode), or the whole page, with a ``callback_url`` in the bundle to come
back to (its redirect mode, for Safari and "strict" settings). Either way the request is
taken only when: its bundle opens with a declared site's secrets and names that site as
its sender; its token is one this site issued to that site for that action by ``get``,
unexpired, and used here for the first time; it is a navigation (an iframe's or the
page's, by Fetch Metadata) and, when the browser says where it comes from (``Referer``),
from that site. The login name must name a user here (an email: mapping.py). The
sign-in itself goes through :class:`~asgi_sessionsync.endpoints.arrival.Arrivals`, as a
native peer's does (``login`` accepted from that site, no privileged account unless it
is trusted for them, auto-provisioning, the session policy); the session stays in a
network of that site alone, so it is never vouched for to a native peer. A logout ends
this browser's session here when it is that user's (a peer's logout of a chain).

A refusal is logged (a WARNING naming why) and answered with a page, never a
traceback; in the redirect mode a refusal of an authentic request sends the browser
back to the site (so its next remote site still gets its turn), as the plugin does.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from starlette.types import Scope

from asgi_sessionsync.endpoints.arrival import Arrivals
from asgi_sessionsync.endpoints.held import Arrival
from asgi_sessionsync.endpoints.reply import Headers, Reply, html, page, redirect
from asgi_sessionsync.endpoints.step_kit import NOT_SET_UP, NOT_VALID, StepKit
from asgi_sessionsync.exceptions import WprusRefused
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.i18n import N_
from asgi_sessionsync.protocol import Mode
from asgi_sessionsync.urls import has_forbidden_characters, safe_return
from asgi_sessionsync.wprus.incoming import opened_from
from asgi_sessionsync.wprus.mapping import email_of
from asgi_sessionsync.wprus.site_config import WprusSite
from asgi_sessionsync.wprus.tokens import redeem

REFUSED_HERE = (
    N_("Not signed in here"),
    N_("The WordPress site asked this site to sign you in, but this site's rules refused it. Nobody was signed in."),
)


def network_of(site: WprusSite) -> str:
    """The network a WordPress site's sign-ins belong to here: that site alone."""
    return f"wordpress {site.origin}"


def callback_of(site: WprusSite, url: object) -> str | None:
    """Where the redirect mode goes back to: the bundle's ``callback_url`` when it is a page
    of ``site``. The plugin writes it from scheme, host and path without the port (seen
    from the real plugin): a URL on the site's scheme and host without a port is put back
    on the site's own origin; any other host, scheme or port is refused."""
    if not isinstance(url, str) or has_forbidden_characters(url):
        return None
    parts, own = urlsplit(url), urlsplit(site.url)
    if parts.scheme != own.scheme or parts.hostname != own.hostname or parts.username is not None:
        return None
    if parts.port is not None and parts.port != (own.port or (443 if own.scheme == "https" else 80)):
        return None
    path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else "/"
    return safe_return(urlunsplit((own.scheme, own.netloc, path, parts.query, "")), site.origin)


class WprusBrowser:
    """Answers the plugin's ``login`` and ``logout`` browser requests for one site."""

    def __init__(self, kit: StepKit, arrivals: Arrivals) -> None:
        self.kit = kit
        self.site = kit.site
        self.arrivals = arrivals
        self.sites = tuple(s for _, s in kit.site.rules.wprus)
        self.log = kit.log

    async def __call__(self, scope: Scope, cookies: bytes | None, action: str) -> Reply:
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        try:
            sender, data = opened_from(self.sites, query.get("wprusdata", ""))
        except WprusRefused as refusal:
            self.log.warning("WP Remote Users Sync %s (browser) refused: %s", action, refusal.reason)
            unknown = "no declared site" in refusal.reason
            return page(400, *(NOT_SET_UP if unknown else NOT_VALID))
        frame = "callback_url" not in data
        back = None if frame else callback_of(sender, data.get("callback_url"))
        try:
            issued = await redeem(self.site.stores.replay, sender, action, "get", query.get("token", ""))
        except WprusRefused as refusal:
            return self._refused(action, sender, refusal, back, page(400, *NOT_VALID))
        try:
            self._navigation(scope, sender, frame=frame)
            if not frame and back is None:
                raise WprusRefused("its callback_url is not a page of that site")
            return await self._act(scope, cookies, sender, action, data, back, issued)
        except WprusRefused as refusal:
            return self._refused(action, sender, refusal, back, page(403, *REFUSED_HERE))

    def _refused(self, action: str, sender: WprusSite, refusal: WprusRefused, back: str | None, shown: Reply) -> Reply:
        self.log.warning("WP Remote Users Sync %s from %s refused: %s", action, sender.origin, refusal.reason)
        # The redirect mode: back to the site, which goes on with its next remote site (as the plugin does).
        return redirect(back) if back is not None else shown

    def _navigation(self, scope: Scope, sender: WprusSite, *, frame: bool) -> None:
        """An iframe's navigation (async mode) or the page's (redirect mode), from that site."""
        mode = Mode.FRAME if frame else Mode.PAGE
        if not self.kit.navigates(scope, mode):
            dest = fetch_metadata(scope).dest
            raise WprusRefused(f"not a navigation of {'an iframe' if frame else 'the page'} (Sec-Fetch-Dest {dest!r})")
        referer = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"referer"), "")
        if referer and safe_return(referer, sender.origin) is None:
            raise WprusRefused("the browser came from another site (its Referer is not that site's)")

    async def _act(
        self,
        scope: Scope,
        cookies: bytes | None,
        sender: WprusSite,
        action: str,
        data: Mapping[str, Any],
        back: str | None,
        issued: float,
    ) -> Reply:
        email = email_of(data)
        if action == "logout":
            await self._logout(scope, cookies, sender, email)
            return self._done(sender, back, [])
        if back is None and self.site.cookies.samesite != "none":
            # A cookie set in another site's iframe is stored only with SameSite=None: this
            # site would sign in a session the browser never keeps.
            raise WprusRefused(
                f"the plugin's iframe mode needs this site's session cookie SameSite=None (it is "
                f"{self.site.cookies.samesite}: bounce mode or SESSIONSYNC_COOKIE_SAMESITE); use frame or auto mode, "
                "or the plugin's strict (redirect) mode"
            )
        via = f"{'frame' if back is None else 'hop'} from {sender.origin} (WordPress)"
        # The login on WordPress was made just before it asked this site for the token: as
        # old as the token (so a sign-out everywhere here after it does not void it; one
        # before it does).
        chain = secrets.token_urlsafe(16)
        arrival = Arrival(email, "", sender.origin, network_of(sender), chain, via, False, signed_in_at=issued)
        session, headers, hold = await self.arrivals.arrive(scope, cookies, arrival)
        if hold:
            mode = Mode.FRAME if back is None else Mode.PAGE
            headers = [(b"set-cookie", self.kit.holds.hold(scope, arrival, onward=back, mode=mode))]
            if back is not None:
                return redirect(self.kit.verify_url, headers)
        elif session is None:
            raise WprusRefused(f"{email} not signed in here (the log's line before says why)")
        else:
            self.log.info("WP Remote Users Sync login from %s: %s signed in", sender.origin, email)
        return self._done(sender, back, headers)

    async def _logout(self, scope: Scope, cookies: bytes | None, sender: WprusSite, email: str) -> None:
        current = await self.kit.current(scope, cookies)
        if current is None:
            # Third-party cookies blocked, or signed out already: nothing seen, nothing ended.
            self.log.info(
                "WP Remote Users Sync logout from %s for %s: no session of this browser seen", sender.origin, email
            )
            return
        if current.user != email:
            raise WprusRefused(f"this browser is signed in here as another user, not {email}")
        user = await self.site.stores.users.get(email)
        refusal = await self.site.trust.sign_out(sender.origin, email, user, whole_user=False)
        if refusal is not None:
            raise WprusRefused(refusal)
        await self.site.sign_outs.this_browser(email, current.chain, reason=f"signed out on {sender.origin}")
        self.log.info("WP Remote Users Sync logout from %s: %s signed out of this browser", sender.origin, email)

    def _done(self, sender: WprusSite, back: str | None, headers: Headers) -> Reply:
        if back is not None:
            return redirect(back, headers)
        policy = f"frame-ancestors {sender.origin}; default-src 'none'".encode()
        return html(200, b"<!doctype html><title>ok</title>", [*headers, (b"content-security-policy", policy)])
