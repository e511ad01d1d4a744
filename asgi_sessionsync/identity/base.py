"""How a site's own login is read and made: the protocols every adapter follows.

The middleware keeps its own session cookie for every site, recorded in the session
registry; an adapter maps that to the login the app itself believes in. There are two
kinds (see docs/identity.md):

- :class:`IdentityAdapter`: the middleware's session *is* the app's login; the adapter
  shows it to the app and says when the app signed someone in or out.
- :class:`AppLoginAdapter`: the app keeps a login of its own (a cookie, a server-side
  session) beside the middleware's; the adapter also reads, makes and ends that login.

The middleware decides once, when it is built, which kind an adapter is
(:func:`app_login_of`), and refuses one that follows neither. The optional members
(:meth:`IdentityAdapter.email_verified`, :meth:`IdentityAdapter.attach_site`) are part of
the protocol with a default each; an adapter that implements the protocol structurally
and leaves one out is given that default then, so that the middleware calls every member
directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import types
from base64 import urlsafe_b64encode
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie, response_cookie, without_cookie

if TYPE_CHECKING:
    from asgi_sessionsync.sessions import ActiveSession
    from asgi_sessionsync.site import Site

Headers = list[tuple[bytes, bytes]]

#: Scope key an :class:`AppLoginAdapter` sets (to ``True``) when the request carries the
#: app's login cookie but the adapter cannot read it (a signature that does not verify
#: with the secret it was given, as opposed to no cookie or an expired one). The
#: middleware then concludes nothing from the app's login in that request: nobody is
#: signed in or out because of a cookie that could not be read.
APP_LOGIN_UNREADABLE = "sessionsync.app_login_unreadable"


class Account(NamedTuple):
    """The user an adapter is asked to sign in: what a site may know of a user from the
    registry (never a password hash or anything else stored beside it)."""

    email: str  # normalized: stripped, lower case, a valid address
    name: str = ""  # display name; may be empty
    role: str = ""  # this site's role for the user (never a peer's)


@runtime_checkable
class IdentityAdapter(Protocol):
    """What every adapter does. Implement all of it, or subclass this class to inherit the
    defaults of ``intent_key``, :meth:`signed_in_again` and :meth:`is_privileged`.
    :meth:`email_verified` and :meth:`attach_site` are optional: an adapter without them
    gets their defaults when the middleware is built (:func:`app_login_of`)."""

    #: A scope key the app sets whenever it signs someone in or out during a request
    #: (the default adapter's :func:`~asgi_sessionsync.sign_in` does). When given, a
    #: response whose scope lacks the key is taken as "nothing changed" without asking
    #: :meth:`signed_in_after`; ``None`` means it is asked at every response.
    intent_key: str | None = None

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        """Show the request's session (``None``: anonymous) to the app, for example as
        ``scope["user"]``.

        Called before the app runs on every request, including the hot path of requests
        without cookies, and once at start-up to learn what an anonymous request looks
        like (the result is then reused for such requests). It must be pure and cheap: no
        I/O, no awaiting, no state kept between calls other than caches, the same result
        for the same session."""
        ...

    async def signed_in_after(self, scope: Scope, before: str | None, headers: Headers) -> tuple[str | None, str]:
        """Who the app says is signed in once it has answered: ``(email or None, display
        name)``. ``before`` is who was signed in when the request came in; return it
        unchanged when the app did nothing. ``headers`` are the response's (an app may
        sign in by setting a cookie). Called at the response start. A value that is not
        a valid email is treated as nobody and never synced."""
        ...

    def signed_in_again(self, scope: Scope) -> bool:
        """Whether the app signed the same user in again during this request (a fresh
        login of whoever was signed in already: the session gets a new id). Called at the
        response start when :meth:`signed_in_after` reports the same user as before."""
        return False

    async def is_privileged(self, email: str) -> bool:
        """Whether ``email`` is an administrator of this site in the app's eyes (for
        Django: staff or superuser). A peer may sign such an account in here only when it
        is listed in ``SESSIONSYNC_TRUSTED_FOR_PRIVILEGED``. Called for each sign-in a peer
        vouches for, before anything is created; may do I/O."""
        return False

    async def email_verified(self, scope: Scope, email: str) -> bool:
        """Whether the app verified that the user it just signed in in this request owns
        ``email`` (a code, a link, an identity provider that vouches for it). Asked once per
        sign-in the app makes, at the response start; the answer travels with the session
        to peers (``ev``; docs/users.md). Optional; the default: not verified (``False``).
        The default adapter answers from :func:`~asgi_sessionsync.sign_in`'s
        ``email_verified``."""
        return False

    def attach_site(self, site: Site) -> None:
        """Called once, when the middleware is built, with the site it serves: for an
        adapter whose app owns its users (Django), to keep them in step with the peers
        through the site's user sync. Must not do I/O or fail. Optional; the default does
        nothing."""
        return None


#: The members an adapter may leave out, each given the protocol's default at start-up.
OPTIONAL_MEMBERS = ("email_verified", "attach_site")


@runtime_checkable
class AppLoginAdapter(IdentityAdapter, Protocol):
    """An adapter for an app with a login of its own beside the middleware's session.

    The registry is the authority: the middleware reconciles the two logins on every
    request that carries cookies (docs/identity.md). Never raise for a bad cookie (return
    ``None``); never log a cookie value or a reference."""

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        """The email the app's own login in this request names, or ``None``. Called before
        the app runs on every request that carries cookies (keep it cheap: cache). A
        cookie that is there but cannot be read (not one that is absent or expired) is
        ``None`` with ``scope[APP_LOGIN_UNREADABLE] = True``: "unknown", not "nobody"."""
        ...

    def forget(self, scope: Scope) -> list[bytes]:
        """Hide the app's own login from this request (strip its cookie from
        ``scope["headers"]``); return ``Set-Cookie`` values that remove it from the
        browser. Called when the registry says the login must not be honoured."""
        ...

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        """Make the app's own login for ``account`` (a peer vouched for it); return the
        ``Set-Cookie`` values that carry it to the browser, or ``None`` when the app
        cannot sign this account in (the peer's sign-in is then skipped here). ``scope``
        is the request that brings the sign-in."""
        ...

    def logout_cookies(self) -> list[bytes]:
        """``Set-Cookie`` values that end the app's own login in the browser."""
        ...

    def app_ref(self, cookie_header: bytes | None) -> str | None:
        """The reference of the app login in a request's ``Cookie`` header, or ``None``.

        A reference is what the registry records with the session the login goes with
        (``SessionRecord.app_ref``) so that ending the session ends the login
        (:meth:`end_app_login`) and a login whose session ended is never adopted again.
        It must stay the same for the login's whole life: for Django the session key; for
        a signed cookie, whose value changes whenever the app signs it again, a keyed hash
        of what the app stores under its user key. Pure and cheap (no I/O); called only
        when a session starts or an app login is adopted or forgotten, never per request."""
        ...

    def response_app_ref(self, headers: Headers) -> str | None:
        """The reference of the app login a response (or :meth:`login_cookies`' values,
        given as ``set-cookie`` headers) sets, or ``None`` when it sets none."""
        ...

    async def end_app_login(self, ref: str) -> None:
        """End the app login ``ref`` names on the server (Django: delete that session
        from its engine), because the session it went with ended here: signed out here
        or by a peer, revoked, expired, or refused. Nothing to do for a login without
        server-side state (a signed cookie): the registry then refuses it when it comes
        back. Must not raise for a login that is already gone."""
        ...


def keyed_ref(key: str | bytes, cookie_name: str, stored: object) -> str:
    """A stable reference for a signed-cookie login: a keyed hash (HMAC-SHA256 with the
    app's own secret) of the value the app stores under its user key. The app signs its
    cookie again on every answer, and keeps other things in the same session (a cart,
    flash messages); the user key's value is what stays the same while the login lasts.
    The registry learns nothing from it that the row does not say already."""
    secret = key.encode("utf-8") if isinstance(key, str) else key
    data = json.dumps(stored, sort_keys=True, separators=(",", ":"), default=repr)
    digest = hmac.new(secret, f"asgi-sessionsync app login\0{cookie_name}\0{data}".encode(), hashlib.sha256)
    return "k1." + urlsafe_b64encode(digest.digest()[:24]).decode("ascii")


class AppCookieLogin:
    """Shared parts of adapters for apps whose login is one cookie of their own
    (``cookie_name``, written with ``policy``): hide it, clear it, show nothing extra;
    references from the cookie's value through :meth:`_ref`."""

    intent_key: str | None = None
    cookie_name: str
    policy: CookiePolicy

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        return None  # the app reads its own login

    def signed_in_again(self, scope: Scope) -> bool:
        return False

    async def is_privileged(self, email: str) -> bool:
        return False

    def forget(self, scope: Scope) -> list[bytes]:
        scope["headers"] = without_cookie(scope["headers"], self.cookie_name)
        return self.logout_cookies()

    def logout_cookies(self) -> list[bytes]:
        return [self.policy.delete(self.cookie_name)]

    def app_ref(self, cookie_header: bytes | None) -> str | None:
        value = find_cookie(cookie_header, self.cookie_name)
        return self._ref(value) if value else None

    def response_app_ref(self, headers: Headers) -> str | None:
        value = response_cookie(headers, self.cookie_name)[1]
        return self._ref(value) if value else None

    async def end_app_login(self, ref: str) -> None:
        return None  # a signed cookie has no server-side state: the registry refuses it

    async def email_verified(self, scope: Scope, email: str) -> bool:
        return False  # the app's own login says nothing of how the address was checked

    def attach_site(self, site: Site) -> None:
        return None

    def _ref(self, value: str) -> str | None:
        """The reference of the login a cookie value holds, or None (none, or invalid)."""
        raise NotImplementedError


_BASE_MEMBERS = ("intent_key", "expose", "signed_in_after", "signed_in_again", "is_privileged")
_APP_LOGIN_MEMBERS = (
    "app_user",
    "forget",
    "login_cookies",
    "logout_cookies",
    "app_ref",
    "response_app_ref",
    "end_app_login",
)


def app_login_of(identity: object) -> AppLoginAdapter | None:
    """``identity`` as an :class:`AppLoginAdapter`, or ``None`` when it is a plain
    :class:`IdentityAdapter`; :class:`TypeError` (naming what is wrong) when it is neither.
    Called once when the middleware is built; an adapter that leaves out an optional
    member (:data:`OPTIONAL_MEMBERS`) is given the protocol's default for it."""
    kind = type(identity).__name__
    if hasattr(identity, "separate_login"):
        raise TypeError(
            f"{kind} declares separate_login, which is no longer read: an adapter for an app with a login "
            "of its own implements AppLoginAdapter, any other IdentityAdapter (see docs/identity.md)"
        )
    missing = [name for name in _BASE_MEMBERS if not hasattr(identity, name)]
    if missing:
        raise TypeError(f"{kind} is not an IdentityAdapter: it lacks {', '.join(missing)} (see docs/identity.md)")
    _give_defaults(identity, kind)
    present = [name for name in _APP_LOGIN_MEMBERS if hasattr(identity, name)]
    if not present:
        return None
    missing = [name for name in _APP_LOGIN_MEMBERS if name not in present]
    if missing:
        raise TypeError(
            f"{kind} has {', '.join(present)} but lacks {', '.join(missing)}: an AppLoginAdapter needs all of "
            "them (see docs/identity.md)"
        )
    assert isinstance(identity, AppLoginAdapter)
    return identity


def _give_defaults(identity: object, kind: str) -> None:
    """Bind the protocol's default of each optional member ``identity`` lacks to it."""
    for name in OPTIONAL_MEMBERS:
        if hasattr(identity, name):
            continue
        try:
            object.__setattr__(identity, name, types.MethodType(getattr(IdentityAdapter, name), identity))
        except (AttributeError, TypeError):  # __slots__: nowhere to put it
            raise TypeError(
                f"{kind} lacks {name} and has no room for the default (__slots__): implement it, or subclass "
                "IdentityAdapter (see docs/identity.md)"
            ) from None
