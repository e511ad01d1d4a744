"""The default identity: the middleware's own session is the site's login.

The app signs a user in or out with :func:`sign_in` / :func:`sign_out` and reads the
user from ``request.user`` (Starlette's convention: ``scope["user"]``, ``scope["auth"]``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.types import Scope

from asgi_sessionsync.validation import email_or_none

if TYPE_CHECKING:
    from asgi_sessionsync.sessions import ActiveSession
    from asgi_sessionsync.site import Site

INTENT = "sessionsync.intent"
_ANONYMOUS = UnauthenticatedUser()
_NO_CREDENTIALS = AuthCredentials()


class SignInIntent(NamedTuple):
    """What the app asked for in this request (``scope[INTENT]``): a sign-in of ``email``
    (with this session's ``role`` and whether the app verified the address), or a
    sign-out (``email`` None; ``everywhere``: every session of the user)."""

    email: str | None
    name: str = ""
    role: str | None = None
    email_verified: bool = False
    everywhere: bool = False

    @property
    def signs_in(self) -> bool:
        return self.email is not None


_SIGNED_OUT = SignInIntent(None)
_SIGNED_OUT_EVERYWHERE = SignInIntent(None, everywhere=True)


def intent_of(scope: Scope) -> SignInIntent | None:
    """The app's :func:`sign_in` / :func:`sign_out` in this request, if it called one."""
    intent = scope.get(INTENT)
    return intent if isinstance(intent, SignInIntent) else None


class SyncUser(NamedTuple):
    """The signed-in user, shaped like ``starlette.authentication.BaseUser``."""

    email: str
    name: str = ""
    role: str = ""
    session_id: str = ""

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def identity(self) -> str:
        return self.email


def _scope_of(request_or_scope: Any) -> Scope:
    scope = getattr(request_or_scope, "scope", request_or_scope)
    if not isinstance(scope, dict):
        raise TypeError("pass a Starlette request, a websocket or an ASGI scope")
    return scope


def sign_in(
    request_or_scope: Any, email: str, *, name: str = "", role: str | None = None, email_verified: bool = False
) -> None:
    """Sign ``email`` in on this site (and, through the middleware, on every peer).

    Call it from the handler that checked the user's credentials; the session cookie
    and the sync start with the response. ``role`` is the role of this session here
    (``request.user.role``, and a scope of ``request.auth``); None: the stored user's.
    Peers never take it: a user signed in there gets their default role.
    ``email_verified``: this app has verified that the user owns the address (a
    confirmation link, a code); peers that require verified addresses
    (``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL``) accept the sign-in only then. Leave it
    False when unsure: an unverified address is refused or checked by such peers.
    """
    address = email_or_none(email)
    if address is None:
        raise ValueError("sign_in needs the user's email (a valid address)")
    _scope_of(request_or_scope)[INTENT] = SignInIntent(address, name, role, email_verified)


def intended_role(scope: Scope) -> str | None:
    """The role the app gave :func:`sign_in` in this request, if any."""
    intent = intent_of(scope)
    return intent.role if intent is not None else None


def sign_out(request_or_scope: Any, *, everywhere: bool = False) -> None:
    """Sign the current user out here and, through the back-channel, on every peer.

    By default only this browser's sign-in ends (its chain: the laptop, not the phone).
    ``everywhere=True`` (or ``SESSIONSYNC_SIGN_OUT_EVERYWHERE=true`` for every sign-out)
    ends every session of the user, in every browser, here and on every peer."""
    _scope_of(request_or_scope)[INTENT] = _SIGNED_OUT_EVERYWHERE if everywhere else _SIGNED_OUT


def sign_out_everywhere_asked(scope: Scope) -> bool:
    """Whether the app called ``sign_out(request, everywhere=True)`` in this request."""
    intent = intent_of(scope)
    return intent is not None and intent.everywhere


@lru_cache(maxsize=64)
def _credentials(role: str) -> AuthCredentials:
    return AuthCredentials(["authenticated", role] if role else ["authenticated"])


class SessionIdentity:
    """The middleware's session cookie is the login (default): an
    :class:`~asgi_sessionsync.identity.IdentityAdapter`."""

    intent_key: str | None = INTENT  # the middleware's shortcut: no key in the scope, no change

    def __init__(self) -> None:
        # The user object of each recent session, made once: sessions are immutable.
        self._shown: dict[str, tuple[SyncUser, AuthCredentials]] = {}

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        if session is None:
            scope["user"] = _ANONYMOUS
            scope["auth"] = _NO_CREDENTIALS
            return
        shown = self._shown.get(session.sid)
        if shown is None:
            if len(self._shown) >= 10_000:
                self._shown.clear()
            shown = self._shown[session.sid] = (
                SyncUser(session.user, session.name, session.role, session.sid),
                _credentials(session.role),
            )
        scope["user"], scope["auth"] = shown

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        intent = intent_of(scope)
        if intent is None:
            return before, ""
        return intent.email, intent.name

    async def email_verified(self, scope: Scope, email: str) -> bool:
        """Whether the app's :func:`sign_in` of ``email`` in this request said the
        address is verified."""
        intent = intent_of(scope)
        return intent is not None and intent.email == email and intent.email_verified

    def attach_site(self, site: Site) -> None:
        return None  # the users live in the middleware's own store: nothing to keep in step

    def signed_in_again(self, scope: Scope) -> bool:
        """Whether the app called :func:`sign_in` in this request (even for the user
        already signed in: every sign-in gets a new session id)."""
        intent = intent_of(scope)
        return intent is not None and intent.signs_in

    async def is_privileged(self, email: str) -> bool:
        return False  # roles are the registry's: SESSIONSYNC_PRIVILEGED_ROLES
