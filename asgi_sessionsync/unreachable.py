"""The peers a browser cannot reach, as that browser said (issue #23).

A peer that the server sees healthy may still be out of the browser's reach: a proxy that
blocks it, a name the browser's resolver does not know, an ad-blocker. Sending the browser
there would end on the browser's own error page. The first-visit catch-up's page
(``pages.catchup_page``) asks each peer from the browser first and names those it could not
reach; this site keeps their ids in a cookie for :data:`UNREACHABLE_FOR` seconds and leaves
them out of that browser's catch-ups and sign-in chains meanwhile. The ids are short
digests of the peers' origins: the cookie says nothing readable about the network.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

UNREACHABLE_FOR = 3600  # seconds a peer the browser could not reach is left out for that browser
MAX_IDS = 16


def peer_id(origin: str) -> str:
    """A peer's id in the cookie and the catch-up page: 8 characters, URL- and cookie-safe."""
    digest = hashlib.sha256(b"asgi-sessionsync peer\x00" + origin.encode()).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode("ascii")


def ids_of(text: str | None) -> frozenset[str]:
    """The ids listed in a cookie value or a query (``id.id``); at most :data:`MAX_IDS`."""
    return frozenset([i for i in (text or "").split(".") if len(i) == 8][:MAX_IDS])


def unreachable(text: str | None, origins: Iterable[str]) -> frozenset[str]:
    """Which of ``origins`` the ids in ``text`` name."""
    ids = ids_of(text)
    return frozenset(o for o in origins if peer_id(o) in ids) if ids else frozenset()


def cookie_value(origins: Iterable[str]) -> str:
    return ".".join(sorted(peer_id(o) for o in origins))
