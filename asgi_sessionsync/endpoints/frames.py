"""The two pages of a sign-in frame: the storage check (``pull`` in a frame, before
anything is set) and the result told to the parent page (``hop``). See
:func:`~asgi_sessionsync.pages.frame_check_page` and docs/design.md, "Frame mode"."""

from __future__ import annotations

import secrets

from starlette.types import Scope

from asgi_sessionsync.endpoints.reply import Headers, Reply, html
from asgi_sessionsync.pages import frame_check_page, frame_result_page

# Added to a frame's pull URL by its storage check: this frame's cookies are the site's own.
CHECKED = "s=1"


def _policy(frame_ancestors: bytes, nonce: str) -> bytes:
    return f"{frame_ancestors.decode()}; script-src 'nonce-{nonce}'; default-src 'none'".encode()


def check_reply(frame_ancestors: bytes, scope: Scope, peer_origin: str, parent_origin: str) -> Reply:
    """The storage check: goes on to this very ``pull`` with ``CHECKED`` (a relative URL:
    the site may be mounted under a path), or tells the parent ``ok:false``."""
    query = scope.get("query_string", b"").decode("latin-1")
    nonce = secrets.token_urlsafe(16)
    body = frame_check_page(
        continue_url=f"?{query}&{CHECKED}", peer_origin=peer_origin, parent_origin=parent_origin, nonce=nonce
    )
    return html(200, body, [(b"content-security-policy", _policy(frame_ancestors, nonce))])


def result_reply(frame_ancestors: bytes, ok: bool, peer_origin: str, parent_origin: str, headers: Headers) -> Reply:
    """The frame's verdict, posted to the parent page."""
    nonce = secrets.token_urlsafe(16)
    body = frame_result_page(ok=ok, peer_origin=peer_origin, parent_origin=parent_origin, nonce=nonce)
    return html(200, body, [*headers, (b"content-security-policy", _policy(frame_ancestors, nonce))])
