"""The plugin's server-to-server requests answered here: ``<prefix>wprus/token/`` and the
user changes (``create``, ``update``, ``delete``, ``password``, ``meta``), all POSTs.

Each request is refused (a 403 ``refused``, and a WARNING naming why) unless: its bundle
opens with a declared WordPress site's secrets and names that site as its sender; it
comes from the site's ``sources`` (the plugin's IP allow-list, here); its token is one
this site issued to that site for that action, unexpired and unused. What a change may
do is decided by :class:`~asgi_sessionsync.trust.PeerTrust` through ``UserSync.receive``.
The browser-side ``login`` and ``logout`` (GETs) are answered by ``browser.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio.to_thread

from asgi_sessionsync.exceptions import WprusRefused
from asgi_sessionsync.logs import package_log, site_log
from asgi_sessionsync.trust import now_ms
from asgi_sessionsync.wprus.crypto import open_bundle
from asgi_sessionsync.wprus.mapping import changes, email_of, hash_password
from asgi_sessionsync.wprus.site_config import WprusSite
from asgi_sessionsync.wprus.tokens import answer_token_request, redeem

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

logger = package_log("asgi_sessionsync.wprus")
USER_CHANGES = frozenset({"create", "update", "delete", "password", "meta"})


def opened_from(sites: tuple[WprusSite, ...], bundle: str) -> tuple[WprusSite, Mapping[str, Any]]:
    """The declared site whose secrets open ``bundle`` and that it names as its sender
    (``base_url``), and its payload; :class:`WprusRefused` otherwise."""
    for site in sites:
        try:
            data = open_bundle(bundle, *site.secrets())
        except WprusRefused:
            continue
        if isinstance(data, dict) and site.matches(str(data.get("base_url", ""))):
            return site, data
        raise WprusRefused("the bundle names a sender that is not the site whose secrets open it")
    raise WprusRefused("the bundle opens with no declared site's secrets (unknown site)")


class WprusIncoming:
    """Answers the plugin's POSTs for one site; ``__call__`` gives (status, body, JSON?)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.sites = tuple(s for _, s in site.rules.wprus)
        self.log = site_log(logger.name, site.site_id)

    async def __call__(self, action: str, body: bytes, host: str | None) -> tuple[int, bytes, bool]:
        try:
            form = {k: v[0] for k, v in parse_qs(body.decode("latin-1")).items()}
            if action == "token":
                sender, answer = answer_token_request(self.sites, form.get("wprusdata", ""))
                self._from_sources(sender, host)
                return 200, json.dumps(answer).encode(), True
            if action not in USER_CHANGES:
                raise WprusRefused(f"no such action {action!r} here")
            sender, data = opened_from(self.sites, form.get("wprusdata", ""))
            self._from_sources(sender, host)
            await redeem(self.site.stores.replay, sender, action, "post", form.get("token", ""))
            await self._apply(sender, action, data)
            return 200, b"", False
        except WprusRefused as refused:
            self.log.warning("WP Remote Users Sync %s request refused: %s", action, refused.reason)
            return 403, b"refused", False

    def _from_sources(self, sender: WprusSite, host: str | None) -> None:
        rules = self.site.rules.for_peer(sender.origin)
        if not rules.admits_source(host):
            raise WprusRefused(f"from {host}, not one of {sender.origin}'s sources ({rules.sources_described})")

    async def _apply(self, sender: WprusSite, action: str, data: Mapping[str, Any]) -> None:
        email = email_of(data)
        plain = data.get("user_pass")
        hashed = await anyio.to_thread.run_sync(hash_password, plain) if isinstance(plain, str) and plain else None
        for payload in changes(action, data, now_ms(), lambda _: hashed or ""):
            received = await self.site.users.receive(sender.origin, email, payload)
            self.log.info("WP Remote Users Sync %s from %s for %s: %s", action, sender.origin, email, received.outcome)
