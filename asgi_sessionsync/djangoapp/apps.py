"""The app's configuration: connects the signal handlers for processes without a server."""

from __future__ import annotations

from django.apps import AppConfig


class SessionSyncConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "asgi_sessionsync.djangoapp"
    label = "asgi_sessionsync"
    verbose_name = "asgi-sessionsync"

    def ready(self) -> None:
        from asgi_sessionsync.identity.django_outside import connect_outside_server

        connect_outside_server()
