"""Django changes made outside the server reach the peers, and users from before the
middleware arrive with their names (#22).

An edit in ``manage.py shell``, a management command or a worker process used to queue
nothing: the signal handlers were connected by the middleware, which only the server
process builds. With ``asgi_sessionsync.djangoapp`` in ``INSTALLED_APPS``, any process
that has the settings writes the change to the outbox of the shared store
(``SESSIONSYNC_STORE``), and the server's worker delivers it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores import sqlite_stores
from tests.cli import ROOT
from tests.frameworks.test_frameworks import DJANGO_ON_ASYNCIO

PEER = "https://a.example"
SITE = "https://f.example"

SHELL = """
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="outside-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        INSTALLED_APPS=INSTALLED,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATABASE}},
        USE_TZ=True,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    ann = User.objects.create_user("ann", email="ann@example.com", password="first-password")  # create
    ann.first_name, ann.last_name = "Ann", "Smith"
    ann.save()  # update: the name
    ann.set_password("second-password")
    ann.save()  # password: and every session of ann ends everywhere
    print("done")
"""


def shell(tmp_path: Path, env: dict[str, str], *, installed: list[str]) -> subprocess.CompletedProcess[str]:
    """A process like ``manage.py shell``: Django configured, no ASGI server, no middleware."""
    script = textwrap.dedent(SHELL)
    prelude = f"INSTALLED = {installed!r}\nDATABASE = {str(tmp_path / 'django.sqlite3')!r}\n"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONSYNC_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", prelude + script],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def site_env(tmp_path: Path) -> dict[str, str]:
    network = tmp_path / "network.toml"
    network.write_text(
        '[defaults]\ncreate = "both"\nupdate = "both"\npassword = "both"\npassword_formats = ["pbkdf2_sha256"]\n'
    )
    return {
        "SESSIONSYNC_SITE_URL": SITE,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": PEER,
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'sessionsync.sqlite3'}",
        "SESSIONSYNC_IDENTITY": "django",
        "SESSIONSYNC_NETWORK_FILE": str(network),
    }


BASE_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]


@pytest.mark.asyncio_only("the peer of this test is an httpx mock; nothing here depends on the loop")
async def test_a_change_in_a_shell_is_queued_and_the_servers_worker_delivers_it(tmp_path: Path) -> None:
    env = site_env(tmp_path)
    result = shell(tmp_path, env, installed=[*BASE_APPS, "asgi_sessionsync.djangoapp"])
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout

    stores = sqlite_stores(tmp_path / "sessionsync.sqlite3", create=False)
    pending = await stores.outbox.pending()
    await stores.close()
    assert {m.peer for m in pending} == {PEER}
    actions = [json.loads(json.dumps(m.kind)) for m in pending]
    assert actions.count("user") == 3, actions  # create, update (the name), password
    assert actions.count("logout") == 1, actions  # the password change: every session of ann ends
    assert all("second-password" not in repr(m) and "first-password" not in repr(m) for m in pending)

    received: list[str] = []

    def peer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ping"):
            return httpx.Response(204)
        received.append(request.url.path)
        return httpx.Response(200)

    server = Site(Settings.from_env(env, env_file=None), transport=httpx.MockTransport(peer))
    try:
        # What the server's worker does each round; one queue (this peer, this user) is
        # delivered in order, a message a round.
        rounds = [await server.courier.deliver_due() for _ in range(5)]
        assert rounds == [1, 1, 1, 1, 0]
        assert len(received) == 4
        assert await server.stores.outbox.pending() == []
    finally:
        await server.aclose()


def test_without_the_app_a_shell_change_is_not_sent(tmp_path: Path) -> None:
    """What docs/users.md says: without ``asgi_sessionsync.djangoapp`` only the server's own
    process sends (the store is not even made)."""
    result = shell(tmp_path, site_env(tmp_path), installed=BASE_APPS)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "sessionsync.sqlite3").exists()


def test_a_shell_without_the_settings_is_not_broken(tmp_path: Path) -> None:
    """A process that lacks the SESSIONSYNC_* settings (a CI job, a one-off script) still
    runs: the change is not sent, and that is said once."""
    result = shell(tmp_path, {}, installed=[*BASE_APPS, "asgi_sessionsync.djangoapp"])
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("not sent to the peers") == 1, result.stderr


@sync_to_async
def name_without_signals(email: str, first: str, last: str) -> None:
    """A user as it was before the middleware: its name set by a raw UPDATE (no signal)."""
    from django.contrib.auth import get_user_model

    get_user_model()._default_manager.filter(email=email).update(first_name=first, last_name=last)


@pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)
async def test_a_django_user_from_before_the_middleware_arrives_with_its_name() -> None:
    """Users that existed before the middleware reached the peers with empty names (the
    hop carried none, and Django's signals had never seen them). Now the Django adapter
    names the user it signs in, and at its first sign-in such a user is sent as
    ``create`` (name, role, hash), as the built-in store's users are."""
    from asgi_sessionsync.network_rules import NetworkRules
    from tests.frameworks.django_site import application
    from tests.frameworks.harness import FRANK, join
    from tests.frameworks.test_django import DJANGO_USER_SYNC

    app = await sync_to_async(application)()
    await name_without_signals(FRANK[0], "Frank", "Zappa")
    plain = await join(app, identity_name="django")
    try:
        browser = plain.browser()
        await browser.sign_in("f", *FRANK)
        on_a = await plain.sites["a"].site.stores.users.get(FRANK[0])
        assert on_a is not None and on_a.name == "Frank Zappa"  # sign-in sync alone: the hop names him
    finally:
        await plain.close()
    rules = NetworkRules.from_mapping(DJANGO_USER_SYNC)
    synced = await join(app, identity_name="django", every_site={"network_rules": rules})
    try:
        browser = synced.browser()
        await browser.sign_in("f", *FRANK)
        on_c = await synced.sites["c"].site.stores.users.get(FRANK[0])
        assert on_c is not None and on_c.name == "Frank Zappa"
        assert on_c.password_hash is not None and on_c.password_hash.startswith("pbkdf2_sha256$")  # user sync
    finally:
        await synced.close()
        await name_without_signals(FRANK[0], "", "")
