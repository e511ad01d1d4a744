"""How a site's own login is read and made: the protocol every adapter follows.

The middleware keeps its own session cookie for every site, recorded in the session
registry; an adapter maps that to the login the app itself believes in. Write one
for any login system by implementing :class:`IdentityAdapter` (see docs/identity.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, without_cookie

if TYPE_CHECKING:
    from asgi_sessionsync.sessions import ActiveSession
    from asgi_sessionsync.stores import User


@runtime_checkable
class IdentityAdapter(Protocol):
    #: True when the app keeps a login of its own (a cookie of its own) beside the
    #: middleware's session; False when the middleware's session is the login.
    separate_login: bool

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        """The email the app's own login names before the app runs, or None.
        Only called when the request carries cookies."""
        ...

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        """Show the request's session to the app (for example ``scope["user"]``)."""
        ...

    def forget(self, scope: Scope) -> list[bytes]:
        """Hide the app's own login from this request (its session was ended elsewhere);
        return ``Set-Cookie`` values that remove it from the browser."""
        ...

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        """Who the app says is signed in once it has answered: (email or None, name).
        ``headers`` are the response's headers (an app may sign in by setting a cookie)."""
        ...

    async def login_cookies(self, user: User) -> list[bytes]:
        """``Set-Cookie`` values that sign ``user`` in with the app's own login."""
        ...

    def logout_cookies(self) -> list[bytes]:
        """``Set-Cookie`` values that end the app's own login."""
        ...


class AppCookieLogin:
    """Shared parts of adapters for apps whose login is one cookie of their own
    (``cookie_name``, written with ``policy``): hide it, clear it, show nothing extra."""

    separate_login = True
    cookie_name: str
    policy: CookiePolicy

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        return None  # the app reads its own login

    def forget(self, scope: Scope) -> list[bytes]:
        scope["headers"] = without_cookie(scope["headers"], self.cookie_name)
        return self.logout_cookies()

    def logout_cookies(self) -> list[bytes]:
        return [self.policy.delete(self.cookie_name)]
