"""``<prefix>ping``: plain liveness (GET/HEAD, readable by the network's pages through
CORS, so a catch-up's page can tell this site from a proxy's refusal), and the
authenticated ping (POST) by which a peer or ``peers check`` asks whether we share the
key, list it, and what time it is here. A refused ping is logged once a minute per reason."""

from __future__ import annotations

import time
from collections.abc import Collection

import anyio
from starlette.types import Receive, Scope

from asgi_sessionsync.endpoints.receiver import _read_body
from asgi_sessionsync.endpoints.reply import TEXT, Reply, text
from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.peers import (
    KEYS_HEADER,
    MAX_PING_BYTES,
    PROBE_HEADER,
    SITE_HEADER,
    TIME_HEADER,
    answer_ping,
    key_ids,
)
from asgi_sessionsync.site import Site

_REFUSAL_WORDS = {
    "unknown key": "seals with a key this site does not hold",
    "bad tag": "seals with a key this site does not hold",
    "wrong issuer": "this site does not list among its peers",
    "wrong audience": "takes another site for this one",
}


class Ping:
    """The ping endpoint of one site (``members``: the network's origins, for CORS)."""

    def __init__(self, site: Site, members: Collection[str], log: SiteLog) -> None:
        self.site = site
        self.members = members
        self.log = log
        self._refusals_logged: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive) -> Reply:
        site = self.site
        if scope["method"] != "POST":
            asker = _origin_header(scope)
            cors = [(b"access-control-allow-origin", asker.encode("latin-1"))] if asker in self.members else []
            return Reply(204, b"", TEXT, [(b"vary", b"origin"), *cors])
        body = None
        with anyio.move_on_after(max(site.settings.peer_timeout, 1.0) * 5):
            body = await _read_body(receive)
        if body is None or len(body) > MAX_PING_BYTES:
            return text(413, "too large")
        status, answer, refused = answer_ping(site.tokens, body)
        if refused is not None:
            self._say_refused(refused)
        headers = [
            (TIME_HEADER.encode(), f"{site.tokens.clock():.3f}".encode()),
            (SITE_HEADER.encode(), site.site_id.encode("latin-1")),
            (KEYS_HEADER.encode(), key_ids(site.tokens).encode("ascii")),  # the same for every asker
            (PROBE_HEADER.encode(), b"cors"),  # a browser's CORS probe of GET ping is answered
        ]
        return Reply(status, answer, TEXT, headers)

    def _say_refused(self, refused: str) -> None:
        now = time.monotonic()
        if now - self._refusals_logged.get(refused, -60.0) >= 60.0:
            self._refusals_logged[refused] = now
            self.log.warning(
                "ping refused: %s (a site or `peers check` that %s; repeats are not logged for a minute)",
                refused,
                _REFUSAL_WORDS.get(refused, "sent something unreadable"),
            )


def _origin_header(scope: Scope) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), "")
