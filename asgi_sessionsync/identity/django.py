"""Identity for Django sites: ``django.contrib.auth`` with Django's own sessions.

The Django project stays as it is (its login view calls ``login(request, user)``, its
logout view ``logout(request)``). Wrap the ASGI application::

    application = SessionSyncMiddleware(get_asgi_application(), identity=DjangoIdentity())

or set ``SESSIONSYNC_IDENTITY=django``. The adapter reads the ``sessionid`` cookie with
Django's session engine and ``aget_user`` (so Django's own checks apply: the backend,
the session auth hash), sees a sign-in or sign-out in the ``sessionid`` cookie the
response sets, and, when a peer signs a user in, creates a Django session for the
Django user with that email (creating the user, with an unusable password and no
staff or superuser rights, when it is missing).

Importable only with Django installed and configured: ``pip install 'asgi-sessionsync[django]'``.
"""

from __future__ import annotations

import time
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from starlette.types import Scope

from asgi_sessionsync.cookies import CookiePolicy, find_cookie, response_cookie
from asgi_sessionsync.identity.base import Account, AppCookieLogin
from asgi_sessionsync.stores import normalize_email

try:
    from asgiref.sync import sync_to_async
    from django.conf import settings as django_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, aget_user, get_user_model
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("the django identity needs Django: pip install 'asgi-sessionsync[django]'") from error


CACHE_SECONDS = 30.0
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
        self._known: dict[str, tuple[str | None, float]] = {}
        self.policy = cookie_policy or CookiePolicy(
            path=django_settings.SESSION_COOKIE_PATH,
            domain=django_settings.SESSION_COOKIE_DOMAIN,
            secure=django_settings.SESSION_COOKIE_SECURE,
            samesite=(django_settings.SESSION_COOKIE_SAMESITE or "lax").lower(),
        )

    async def _email_of_session(self, key: str) -> str | None:
        # Django's login() and logout() always change the key, so a short memory of
        # what a key named saves two queries per request; a server-side expiry or a
        # password change is seen at most CACHE_SECONDS late.
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[1] < CACHE_SECONDS:
            return known[0]
        email = await self._load_email(key)
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()
        self._known[key] = (email, now)
        return email

    async def _load_email(self, key: str) -> str | None:
        request = SimpleNamespace(session=self._store_class(session_key=key))
        user = await aget_user(request)
        if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
            return None
        email = getattr(user, "email", "") or ""
        return normalize_email(email) if "@" in email else None

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
        return (await self._email_of_session(cookie) if cookie else None), ""

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        django_user = await self._find_or_create(account.email)
        store = self._store_class()
        await store.aset(SESSION_KEY, django_user._meta.pk.value_to_string(django_user))
        await store.aset(BACKEND_SESSION_KEY, self.backend)
        await store.aset(HASH_SESSION_KEY, django_user.get_session_auth_hash())
        await store.asave()
        return [self.policy.set(self.cookie_name, store.session_key, int(django_settings.SESSION_COOKIE_AGE))]

    async def _find_or_create(self, email: str) -> Any:
        model = get_user_model()
        found = await model._default_manager.filter(email__iexact=email).afirst()
        if found is not None:
            return found

        def create() -> Any:
            fields = {model.USERNAME_FIELD: email}
            if model.get_email_field_name() != model.USERNAME_FIELD:
                fields[model.get_email_field_name()] = email
            return model._default_manager.create_user(**fields, password=None)

        return await sync_to_async(create)()
