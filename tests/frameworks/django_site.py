"""A Django project as Django's documentation writes a login: ``django.contrib.auth``,
database sessions, CSRF protection, ``authenticate()`` + ``login()`` and ``logout()``.
It knows nothing of sessionsync. Configured in code so the tests need no project tree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from tests.frameworks.pages import USERS, csrf_input, home, login_form


def index(request: HttpRequest) -> HttpResponse:
    user = request.user.email if request.user.is_authenticated else None
    return HttpResponse(home(user, csrf_input(get_token(request))))


def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("email", ""), password=request.POST.get("password", ""))
        if user is not None:
            login(request, user)
            target = request.POST.get("next", "/")
            safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
            return redirect(target if safe else "/")
        return HttpResponse(login_form("Wrong email or password.", csrf_input(get_token(request))), status=401)
    return HttpResponse(login_form(hidden=csrf_input(get_token(request))))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")


@require_POST
def password_view(request: HttpRequest) -> HttpResponse:
    """What Django's PasswordChangeView does once its form is valid: the new password,
    saved, and this browser's session kept (``update_session_auth_hash``)."""
    if not request.user.is_authenticated:
        return HttpResponse("not signed in", status=403, content_type="text/plain")
    user = request.user
    user.set_password(request.POST.get("new_password", ""))
    user.save()
    update_session_auth_hash(request, user)
    return redirect("/")


def cart(request: HttpRequest) -> HttpResponse:
    """An anonymous visitor's cart, kept in Django's session: ``?add=ITEM`` adds one."""
    items = list(request.session.get("cart", []))
    if "add" in request.GET:
        items.append(request.GET["add"])
        request.session["cart"] = items
    user = request.user.email if request.user.is_authenticated else "nobody"
    return HttpResponse(f"cart: {','.join(items)}; user: {user}", content_type="text/plain")


def staff(request: HttpRequest) -> HttpResponse:
    """What Django's admin asks of a user, without the admin's templates."""
    if not (request.user.is_active and request.user.is_staff):
        return HttpResponse("staff only", status=403, content_type="text/plain")
    return HttpResponse(f"staff page for {request.user.email}", content_type="text/plain")


urlpatterns = [
    path("", index),
    path("login", login_view),
    path("logout", logout_view),
    path("password", password_view),
    path("cart", cart),
    path("staff", staff),
]


def application() -> Any:
    """Configure Django once per process, migrate a fresh database, return the ASGI app."""
    from django.core.asgi import get_asgi_application

    if not settings.configured:
        database = Path(tempfile.mkdtemp(prefix="sessionsync-django-")) / "db.sqlite3"
        settings.configure(
            DEBUG=False,
            SECRET_KEY="django-test-site-secret-key-not-for-production-0123456789",
            ALLOWED_HOSTS=["f.example"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
            SESSION_COOKIE_SECURE=True,
            CSRF_COOKIE_SECURE=True,
            USE_TZ=True,
        )
        django.setup()
        call_command("migrate", verbosity=0)
        from django.contrib.auth.models import User

        for email, password in USERS.items():
            User.objects.create_user(email, email=email, password=password)
    return get_asgi_application()
