"""Which identity adapter ``SESSIONSYNC_IDENTITY`` names: one table, name → maker, as
:mod:`asgi_sessionsync.stores.registry` is for stores. The settings accept exactly the
names here (``settings.values.IDENTITY_NAMES``, kept equal by a test), and the middleware
builds the adapter from this table.

Each maker imports its adapter when called: the Django and Starlette-session adapters
need their framework (an extra), the default needs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asgi_sessionsync.identity.base import IdentityAdapter
    from asgi_sessionsync.settings import Settings

Maker = Callable[["Settings", object | None], "IdentityAdapter"]


def _session(settings: Settings, app: object | None) -> IdentityAdapter:
    from asgi_sessionsync.identity.session import SessionIdentity

    return SessionIdentity()


def _starlette_session(settings: Settings, app: object | None) -> IdentityAdapter:
    from asgi_sessionsync.identity.app_session import app_session_identity

    return app_session_identity(settings, app)


def _django(settings: Settings, app: object | None) -> IdentityAdapter:
    from asgi_sessionsync.identity.django import DjangoIdentity

    return DjangoIdentity()


IDENTITIES: dict[str, Maker] = {"session": _session, "starlette-session": _starlette_session, "django": _django}


def identity_from_settings(settings: Settings, app: object | None = None) -> IdentityAdapter:
    """The adapter ``SESSIONSYNC_IDENTITY`` names. ``app``: the app the middleware wraps,
    whose Starlette ``SessionMiddleware`` gives the starlette-session identity the
    options no setting gives (see :mod:`.app_session`)."""
    return IDENTITIES[settings.identity](settings, app)
