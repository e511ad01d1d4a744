"""One test site for a real server: ``hypercorn tests.served_site:app``.

``login_app`` wrapped in the middleware, configured by the environment like any
deployment (``SESSIONSYNC_SITE_URL``, ``_SECRET_KEYS``, ``_PEERS``, ``_STORE``);
``TEST_SITE`` names it, and site ``a`` has alice's account. Logs go to stderr,
including each lifespan message the middleware sends the server, and whether the
site is closed by then.
"""

from __future__ import annotations

import logging
import os

from starlette.types import Message, Receive, Scope, Send

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.testing_apps import login_app
from tests.constants import ALICE

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
logger = logging.getLogger("served_site")

NAME = os.environ["TEST_SITE"]
site = SessionSyncMiddleware(login_app(NAME, dict([ALICE]) if NAME == "a" else {}, csrf_check=False), env_file=None)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "lifespan":
        await site(scope, receive, send)
        return

    async def told(message: Message) -> None:
        logger.info(
            "%s (worker running: %s, site closed: %s)", message["type"], site.site.courier.running, site.site.closed
        )
        await send(message)

    await site(scope, receive, told)
