"""The declined cookie: the user chose "Continue without signing in here" on the code
page, remembered for the catch-up interval (``SESSIONSYNC_CATCHUP_INTERVAL``).

While it lasts, a peer's sign-in of that address is not held again for a code when it
arrives from this site's own first-visit catch-up, or from the chain of the sign-in that
was declined: no code page, no code mailed; nobody is signed in and the chain goes on. A
new sign-in on a peer (another chain) is the user choosing to sign in, and asks again; so
does this site's own login, always. An envelope of purpose ``state`` (only this site opens
it; the address inside is not readable), bound to the client address, HttpOnly,
``SameSite=Lax``.
"""

from __future__ import annotations

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie
from asgi_sessionsync.endpoints.held import Arrival, Held
from asgi_sessionsync.exceptions import EnvelopeError
from asgi_sessionsync.protocol import DeclinedPayload
from asgi_sessionsync.site import Site


class Declines:
    """Seals and reads the declined cookie of one site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.name = site.cookie_names.declined
        self.lifetime = max(1, int(site.settings.catchup_interval))
        policy = site.cookies
        self._policy = CookiePolicy(path=policy.path, domain=policy.domain, secure=policy.secure, samesite="lax")

    def decline(self, scope: Scope, held: Held) -> bytes:
        """The ``Set-Cookie`` value remembering that this browser went on without ``held``."""
        site = self.site
        token = site.tokens.seal_message(
            DeclinedPayload(held.payload.chain),
            subject=held.email,
            ttl=self.lifetime,
            ip=site.address.bind_value(scope),
        )
        return self._policy.set(self.name, token, self.lifetime)

    def covers(self, scope: Scope, cookies: bytes | None, arrival: Arrival) -> bool:
        """Whether this browser declined ``arrival``'s sign-in lately (the same address,
        and a catch-up or the same chain). A cookie this site cannot open declines nothing."""
        token = find_cookie(cookies, self.name)
        if not token:
            return False
        site = self.site
        try:
            claims, payload = site.tokens.open_message(token, DeclinedPayload, ip=site.address.bind_value(scope))
        except EnvelopeError:
            return False
        if claims.subject != arrival.email:
            return False
        return arrival.catch_up or (bool(payload.chain) and payload.chain == arrival.chain)
