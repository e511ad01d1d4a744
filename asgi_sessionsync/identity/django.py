"""Identity for Django sites: ``django.contrib.auth`` with Django's own sessions.

The Django project stays as it is (its login view calls ``login(request, user)``, its
logout view ``logout(request)``). Wrap the ASGI application::

    application = SessionSyncMiddleware(get_asgi_application(), identity=DjangoIdentity())

or set ``SESSIONSYNC_IDENTITY=django``. The adapter reads the ``sessionid`` cookie with
Django's session engine and ``aget_user`` (so Django's own checks apply: the backend,
the session auth hash), and sees a sign-in or sign-out in the ``sessionid`` cookie the
response sets. When a peer signs a user in, it logs the Django user with that email in
the way Django's own login view does: ``alogin`` on the browser's request (so
``user_logged_in`` receivers run and ``last_login`` is set), in a session saved by
Django's session engine, sent in a cookie written as Django's settings say
(``SESSION_COOKIE_*``, ``SESSION_EXPIRE_AT_BROWSER_CLOSE``). A missing user is created
with an unusable password and no staff or superuser rights; a staff member or superuser
is never signed in by a peer that is not trusted for it.

Importable only with Django installed and configured: ``pip install 'asgi-sessionsync[django]'``.
"""

from __future__ import annotations

import io
import time
from importlib import import_module
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, cookie_header, find_cookie, response_cookie
from asgi_sessionsync.identity.base import Account, AppCookieLogin
from asgi_sessionsync.logs import package_log
from asgi_sessionsync.validation import email_or_none

try:
    from asgiref.sync import sync_to_async
    from django.conf import settings as django_settings
    from django.contrib.auth import SESSION_KEY, aget_user, alogin, get_user_model
    from django.core.handlers.asgi import ASGIRequest
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("the django identity needs Django: pip install 'asgi-sessionsync[django]'") from error

if TYPE_CHECKING:
    from asgi_sessionsync.site import Site

logger = package_log("asgi_sessionsync")

CACHE_SECONDS = 30.0
_CYCLED = "sessionsync.django_key_cycled"
CACHE_SIZE = 10_000


class DjangoIdentity(AppCookieLogin):
    def __init__(
        self,
        *,
        backend: str = "django.contrib.auth.backends.ModelBackend",
        cookie_policy: CookiePolicy | None = None,
    ) -> None:
        self.backend = backend
        self.cookie_name = django_settings.SESSION_COOKIE_NAME
        self._store_class = import_module(django_settings.SESSION_ENGINE).SessionStore
        self._known: dict[str, tuple[str | None, float, str]] = {}  # key -> (email, when, name)
        self.policy = cookie_policy or CookiePolicy(
            path=django_settings.SESSION_COOKIE_PATH,
            domain=django_settings.SESSION_COOKIE_DOMAIN,
            secure=django_settings.SESSION_COOKIE_SECURE,
            samesite=(django_settings.SESSION_COOKIE_SAMESITE or "lax").lower(),
            httponly=bool(django_settings.SESSION_COOKIE_HTTPONLY),
        )

    async def _email_of_session(self, key: str) -> str | None:
        # Django's login() and logout() always change the key, so a short memory of
        # what a key named saves two queries per request; a server-side expiry or a
        # password change is seen at most CACHE_SECONDS late.
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[1] < CACHE_SECONDS:
            return known[0]
        email, name = await self._load_user(key)
        self._remember(key, email, now, name)
        return email

    def _remember(self, key: str, email: str | None, now: float, name: str = "") -> None:
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()
        self._known[key] = (email, now, name)

    async def _load_user(self, key: str) -> tuple[str | None, str]:
        """The email and the name (first and last) of the user the session ``key`` names."""
        request = SimpleNamespace(session=self._store_class(session_key=key))
        user = await aget_user(request)
        if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
            return None, ""
        name = " ".join(p for p in (getattr(user, "first_name", ""), getattr(user, "last_name", "")) if p)
        return email_or_none(getattr(user, user.get_email_field_name(), None)), name[:200]

    def _ref(self, value: str) -> str | None:
        return value  # the session key: what Django's engine deletes it by

    async def end_app_login(self, ref: str) -> None:
        """Delete the Django session ``ref`` from the session engine (its row in
        ``django_session``, its cache entry): the session it went with ended."""
        self._known.pop(ref, None)
        await self._store_class().adelete(ref)

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        key = find_cookie(cookie_header, self.cookie_name)
        return await self._email_of_session(key) if key else None

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        # Django's login() cycles the session key and logout() deletes the cookie, so
        # a change of identity always shows as a sessionid Set-Cookie.
        found, cookie = response_cookie(headers, self.cookie_name)
        if not found:
            return before, ""
        after = await self._email_of_session(cookie) if cookie else None
        if (
            after is not None
            and after == before
            and cookie != find_cookie(cookie_header(scope["headers"]), self.cookie_name)
        ):
            # The same user, under a new session key: login() again, or a password change
            # with update_session_auth_hash (Django cycles the key for both).
            scope[_CYCLED] = True
        known = self._known.get(cookie) if after is not None and cookie else None
        return after, known[2] if known is not None else ""  # the name peers get with the sign-in

    def signed_in_again(self, scope: Scope) -> bool:
        """Whether Django gave the signed-in user a new session key in this request (a new
        login of the same user, or a password change that kept this browser signed in):
        the middleware's session then starts anew too (a new sign-in chain), so that it
        is not older than the password."""
        return scope.get(_CYCLED) is True

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        user = await self._user_to_log_in(account.email)
        if user is None:
            return None
        # The browser's own request, as Django's login view would have it: receivers of
        # user_logged_in see its address and headers.
        request = ASGIRequest(scope, io.BytesIO())
        request.session = await self._session_to_log_in(scope)
        await alogin(request, user, backend=self.backend)
        session = request.session
        await session.asave()
        self._remember(session.session_key, account.email, time.monotonic(), account.name)
        # As Django's SessionMiddleware writes the cookie: the session's own expiry.
        browser_session = await session.aget_expire_at_browser_close()
        max_age = None if browser_session else int(await session.aget_expiry_age())
        return [self.policy.set(self.cookie_name, session.session_key, max_age)]

    async def _session_to_log_in(self, scope: Scope) -> Any:
        """The browser's Django session when it is anonymous (its data is kept, under a
        new key, as Django's ``login()`` keeps it); otherwise a new one. A session that was
        logged in is ended, as ``login()`` ends another user's."""
        key = find_cookie(cookie_header(scope["headers"]), self.cookie_name)
        store = self._store_class(session_key=key or None)
        if key and await store.ahas_key(SESSION_KEY):
            self._known.pop(key, None)
            await store.aflush()
        return store

    async def _user_to_log_in(self, email: str) -> Any:
        """The one Django user with this email (created when there is none), or None when
        several share it (Django does not make emails unique: which one the peer's user
        is cannot be known) or that user is inactive."""
        model = get_user_model()
        found = [user async for user in model._default_manager.filter(**{_email_lookup(model): email})[:2]]
        if len(found) > 1:
            logger.warning("sign-in of %s not made in Django: several Django users have that email", email)
            return None
        if not found:
            return await sync_to_async(_create_user)(model, email)
        if not getattr(found[0], "is_active", True):
            logger.warning("sign-in of %s not made in Django: that Django user is inactive", email)
            return None
        return found[0]

    def attach_site(self, site: Site) -> None:
        """Called by the middleware: keep Django's users in step with the peers (see
        :mod:`asgi_sessionsync.identity.django_users`) and send the hooks' events as
        Django signals."""
        from asgi_sessionsync.djangoapp.signals import connect
        from asgi_sessionsync.identity.django_users import DjangoUserSync

        self.user_sync = DjangoUserSync(site)
        connect(site.hooks)  # the hooks as Django signals (asgi_sessionsync.djangoapp.signals)

    async def is_privileged(self, email: str) -> bool:
        """True when any Django user with this email (any spelling of its case) is staff
        or a superuser."""
        model = get_user_model()
        async for user in model._default_manager.filter(**{_email_lookup(model): email}):
            if getattr(user, "is_staff", False) or getattr(user, "is_superuser", False):
                return True
        return False


def _email_lookup(model: Any) -> str:
    return f"{model.get_email_field_name()}__iexact"


def _create_user(model: Any, email: str) -> Any:
    from asgi_sessionsync.identity.django_users import applying

    fields = {model.USERNAME_FIELD: email}
    if model.get_email_field_name() != model.USERNAME_FIELD:
        fields[model.get_email_field_name()] = email
    with applying():  # a peer's user: not announced back to the peers
        return model._default_manager.create_user(**fields, password=None)
