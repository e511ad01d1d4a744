"""What kind of request this is, from the browser's Fetch Metadata headers.

Every current browser (Chromium, Firefox, Safari since 16.4) sends ``Sec-Fetch-Site``,
``Sec-Fetch-Mode`` and ``Sec-Fetch-Dest``; the browser sets them, a page cannot. A
request without them comes from something else (a non-browser client, a very old
browser): the rules here treat such a request by what it *can* be, and say so.
"""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Scope


class FetchMetadata(NamedTuple):
    site: bytes | None  # same-origin, same-site, cross-site, none
    mode: bytes | None  # navigate, cors, no-cors, same-origin, websocket
    dest: bytes | None  # document, iframe, image, script, empty, …
    origin: bytes | None
    accept: bytes | None

    @property
    def sent(self) -> bool:
        """Whether the browser sent Fetch Metadata at all."""
        return self.mode is not None

    def is_navigation(self, method: str) -> bool:
        """A top-level GET navigation (a page the user opens); without Fetch Metadata, a
        GET that accepts HTML."""
        if method != "GET":
            return False
        if self.mode is not None:
            return self.mode == b"navigate" and self.dest in (None, b"document")
        return self.accept is not None and b"text/html" in self.accept

    def is_frame_navigation(self, method: str) -> bool:
        return method == "GET" and self.mode == b"navigate" and self.dest == b"iframe"

    def navigates_to(self, dest: bytes, method: str) -> bool:
        """A navigation of the given destination (``document`` or ``iframe``); a request
        without Fetch Metadata counts as one (it cannot be an embedded subresource of a
        current browser)."""
        if method != "GET":
            return False
        if self.mode is None:
            return True
        return self.mode == b"navigate" and (self.dest or b"document") == dest

    def is_same_origin(self, own_origin: str) -> bool:
        """Made by this site's own pages, or by the user (typed, a bookmark): a request
        that may speak for this site. ``Sec-Fetch-Site: same-origin``; or ``none`` or no
        Fetch Metadata at all, with no ``Origin`` or this site's. ``same-site`` is a
        sibling subdomain's page, not this site's: not same-origin."""
        if self.site is not None and self.site != b"none":
            return self.site == b"same-origin"
        return self.origin is None or self.origin.decode("latin-1").lower() == own_origin

    def is_cross_site(self, own_origin: str) -> bool:
        """Sent by another site: ``Sec-Fetch-Site: cross-site``, or (older browsers) an
        ``Origin`` that is not this site's. This is the browser's notion of which cookies
        come (``SameSite`` is per site: a sibling subdomain's request carries them all);
        whether a request speaks for this site is :meth:`is_same_origin`."""
        if self.site is not None:
            return self.site == b"cross-site"
        if self.origin is not None and self.origin != b"null":
            return self.origin.decode("latin-1").lower() != own_origin
        return self.origin == b"null"

    def is_lax_visible(self, method: str) -> bool:
        """Whether a ``SameSite=Lax`` cookie would have come with this request: any
        same-site request, or a cross-site top-level GET navigation."""
        if self.site is None or self.site != b"cross-site":
            return True
        return method == "GET" and self.mode == b"navigate" and self.dest in (None, b"document")


def fetch_metadata(scope: Scope) -> FetchMetadata:
    site = mode = dest = origin = accept = None
    for key, value in scope["headers"]:
        if key[:4] == b"sec-":
            if key == b"sec-fetch-site":
                site = value
            elif key == b"sec-fetch-mode":
                mode = value
            elif key == b"sec-fetch-dest":
                dest = value
        elif key == b"origin":
            origin = value
        elif key == b"accept":
            accept = value
    return FetchMetadata(site, mode, dest, origin, accept)
