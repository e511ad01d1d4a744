"""B, a first-visit catch-up: the ``catchup`` step, where the catch-up's page sends the
browser once it has asked each peer from the browser (see :mod:`asgi_sessionsync.catchup`)."""

from __future__ import annotations

from starlette.types import Scope

from asgi_sessionsync.catchup import CatchUp
from asgi_sessionsync.endpoints.reply import Reply, redirect, text
from asgi_sessionsync.endpoints.step_kit import StepKit
from asgi_sessionsync.fetch_metadata import fetch_metadata
from asgi_sessionsync.protocol import Mode
from asgi_sessionsync.urls import safe_return


class CatchUpStep:
    """Sends the browser on to the first peer it can reach, or back to its page."""

    def __init__(self, kit: StepKit) -> None:
        self.kit = kit
        self.catchup = CatchUp(kit.site)

    async def catchup_step(
        self, scope: Scope, cookies: bytes | None, return_url: str, reported: str, hashed: str
    ) -> Reply:
        site = self.kit.site
        if not self.kit.navigates(scope, Mode.PAGE):
            return text(400, "not a navigation")
        if not fetch_metadata(scope).is_same_origin(site.origin):
            # Only this site's own page reports peers out of the browser's reach: a link
            # from elsewhere cannot make a browser leave its peers out.
            reported = ""
        if await self.kit.current(scope, cookies) is not None:  # signed in here meanwhile
            return redirect(safe_return(return_url, site.site_id) or self.kit.home)
        url, headers = await self.catchup.go_on(scope, cookies, return_url, reported, hashed)
        return redirect(url, headers)
