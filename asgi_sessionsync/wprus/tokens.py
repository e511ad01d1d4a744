"""The tokens this site issues to a WP Remote Users Sync site, each used once here.

The plugin asks for a token (``POST <url>/wprus/token/`` with a bundle saying the action
and the method, ``get`` for a browser-side action, ``post`` for server to server) before
each action, and sends it back beside the action's bundle. Its own tokens may be used
again within their validity for ``post``; this site's may not: a token names the
action and method it was asked for and its expiry, is MACed with the site's signature
secret (so it names the site too), and is marked used in the replay cache on its first
use. The answer's ``expiry`` is 0, so the plugin (which caches a token until its expiry)
asks for a new one before every action instead of sending a used one again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from asgi_sessionsync.exceptions import WprusRefused
from asgi_sessionsync.stores import ReplayCache
from asgi_sessionsync.wprus.crypto import open_bundle
from asgi_sessionsync.wprus.site_config import WprusSite

ACTIONS = frozenset({"login", "logout", "create", "update", "delete", "password", "role", "meta"})
METHODS = frozenset({"get", "post"})
_DOMAIN = b"asgi-sessionsync wprus token\x00"


def _mac(site: WprusSite, body: str) -> str:
    return hmac.new(site.signature_secret.reveal(), _DOMAIN + body.encode(), hashlib.sha256).hexdigest()[:32]


def issue(site: WprusSite, action: str, method: str, *, now: float | None = None) -> str:
    """A token for ``action`` by ``method`` from ``site``, valid for its token expiry."""
    expiry = int((time.time() if now is None else now) + site.token_expiry)
    body = f"{expiry}-{action}-{method}-{secrets.token_hex(12)}"
    return f"{body}-{_mac(site, body)}"


def answer_token_request(sites: tuple[WprusSite, ...], bundle: str) -> tuple[WprusSite, dict[str, Any]]:
    """The site whose secrets open ``bundle`` and the JSON answer (``{"nonce", "expiry"}``);
    :class:`WprusRefused` when no site's do, or the request is not a token request."""
    for site in sites:
        try:
            data = open_bundle(bundle, *site.secrets())
        except WprusRefused:
            continue
        if not isinstance(data, dict) or data.get("action") not in ACTIONS or data.get("method") not in METHODS:
            raise WprusRefused("token request without a known action and method")
        return site, {"nonce": issue(site, str(data["action"]), str(data["method"])), "expiry": 0}
    raise WprusRefused("token request from no declared site (its bundle opens with no site's secrets)")


async def redeem(
    replay: ReplayCache, site: WprusSite, action: str, method: str, token: str, *, now: float | None = None
) -> float:
    """Use ``token`` for ``action`` by ``method`` from ``site``, once; when it was issued
    (epoch seconds, whole); :class:`WprusRefused` when it is not this site's for that,
    expired, or used already."""
    parts = token.split("-")
    if len(parts) != 5 or not parts[0].isdigit():
        raise WprusRefused("token is not one this site issued")
    body, mac = "-".join(parts[:4]), parts[4]
    if not hmac.compare_digest(mac, _mac(site, body)):
        raise WprusRefused("token is not one this site issued to that site")
    expiry, token_action, token_method = int(parts[0]), parts[1], parts[2]
    if token_action != action or token_method != method:
        raise WprusRefused(f"token was issued for {token_action} by {token_method}, not {action} by {method}")
    if expiry < (time.time() if now is None else now):
        raise WprusRefused("token expired")
    if not await replay.use(hashlib.sha256(_DOMAIN + token.encode()).digest()[:16], float(expiry)):
        raise WprusRefused("token already used")
    return float(expiry - site.token_expiry)
