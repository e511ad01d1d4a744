"""Which requests a sub-folder site answers for: those below its path.

A site whose URL has a path (``SESSIONSYNC_SITE_URL=https://example.com/shop``) owns that
path and nothing else of its origin; its cookies are scoped to it (``Path=/shop``), so a
request elsewhere never carries them. Such a request goes to the app untouched but for
the anonymous user shown to it: no cookie is read, no catch-up starts, no sign-in is made
(one the app asks for there is said in a WARNING). A request that names no path of the
site at all usually means a proxy strips the path without telling the server: the
WARNING says to set the server's ``root_path``.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_sessionsync.logs import RateLimit, package_log, site_log
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.settings.checks import same_origin_warning

logger = package_log("asgi_sessionsync")


class SitePath:
    """The path a sub-folder site owns (``/shop``)."""

    @classmethod
    def of(cls, settings: Settings, anonymous: dict[str, Any], intent_key: str | None) -> SitePath | None:
        """The path of the site of ``settings``; None for a site at the root of its origin
        (everything is its own). A site that shares its origin with a peer is said here,
        once: they must trust each other fully (``same_origin_warning``)."""
        shared = same_origin_warning(settings)
        if shared is not None:
            site_log(logger.name, settings.site_id).warning("%s", shared)  # config check says it too
        return cls(settings.site_id, settings.site_path, anonymous, intent_key) if settings.site_path else None

    def __init__(self, site_id: str, path: str, anonymous: dict[str, Any], intent_key: str | None) -> None:
        self.path = path
        self._below = path + "/"
        self._anonymous = anonymous  # what an anonymous request shows the app (no site: no users API)
        self._intent_key = intent_key
        self._say = RateLimit()
        self.log = site_log(logger.name, site_id)

    def covers(self, scope: Scope) -> bool:
        """Whether the request (its root path included) is this site's: its path or below."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and not path.startswith(root):
            path = root + path
        return path == self.path or path.startswith(self._below)

    async def pass_by(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """A request outside the path: the app answers it for nobody."""
        shown = scope.get("root_path", "") + scope["path"]
        if self._say("outside"):
            self.log.warning(
                "a request for %s is outside this site's path (%s): passed to the app with nobody signed in; if a "
                "proxy strips %s, give the server that root path (uvicorn --root-path %s)",
                shown[:200],
                self.path,
                self.path,
                self.path,
            )
        scope.update(self._anonymous)
        await app(scope, receive, send)
        if self._intent_key is not None and self._intent_key in scope and self._say("sign-in"):
            self.log.warning(
                "a sign-in on %s was not made: that page is outside this site's path (%s)", shown[:200], self.path
            )
