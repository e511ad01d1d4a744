"""The Django app of asgi-sessionsync: ``INSTALLED_APPS = [..., "asgi_sessionsync.djangoapp"]``.

The middleware connects Django's user signals in the server's process, where it is
built. This app connects them in every process that loads Django's settings (``manage.py
shell``, a management command, a Celery worker, a cron script): a user created, renamed,
given a new password or deleted there is written, as a user-sync message (and, for a
password, the sign-out everywhere), to the outbox of the shared store that
``SESSIONSYNC_STORE`` names, and the server's outbox worker delivers it. In the server's
own process the middleware's handlers do that, and these stay quiet. Nothing else (no
model, no migration). See docs/users.md.
"""
