"""Every change the console makes is a ``POST`` that carries a token bound to the
session and that comes from this site's own page.

The token is an HMAC of the session id under a key derived from the site's secret
(``console-csrf``; every key of the key ring is looked for, so a rotation keeps the forms
that are open), compared in constant time: another session, another site, or a page
made before a sign-in cannot produce it. The origin check comes first: a request whose
``Sec-Fetch-Site`` is not ``same-origin``, or whose ``Origin`` is not this site's, is
refused whatever it carries; one with neither header is refused too (every browser that
can run the console sends at least one on a ``POST``).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.requests import HTTPConnection

from asgi_sessionsync.console.guard import Refused, Viewer
from asgi_sessionsync.fetch_metadata import fetch_metadata

LABEL = "console-csrf"
FIELD = "csrf"

CROSS_ORIGIN = Refused(403, "Refused", "This form was not sent from this site's own page: nothing was changed.")
BAD_TOKEN = Refused(
    403,
    "Refused",
    "This form is too old or not from this session (reload the page and try again): nothing was changed.",
)


def token(viewer: Viewer) -> str:
    """The token of the viewer's session, for the forms of its pages."""
    mac = viewer.site.tokens.macs(LABEL, viewer.sid.encode())[0]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def valid(viewer: Viewer, given: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(given + "=" * (-len(given) % 4))
    except (binascii.Error, ValueError):
        return False
    found = False
    for mac in viewer.site.tokens.macs(LABEL, viewer.sid.encode()):
        found |= hmac.compare_digest(raw, mac)
    return found


def same_origin(request: HTTPConnection, origin: str) -> bool:
    """Sent by this site's own page: ``Sec-Fetch-Site: same-origin`` when the browser
    says, and an ``Origin`` of this site when there is one; at least one of them."""
    seen = fetch_metadata(request.scope)
    if seen.site is not None and seen.site != b"same-origin":
        return False
    if seen.origin is not None and seen.origin.decode("latin-1").lower() != origin:
        return False
    return seen.site is not None or seen.origin is not None


def check(request: HTTPConnection, viewer: Viewer, given: str) -> Refused | None:
    """None when the POST may change something; else why not."""
    if not same_origin(request, viewer.site.origin):
        return CROSS_ORIGIN
    if not given or not valid(viewer, given):
        return BAD_TOKEN
    return None
