"""A password change or reset in Django ends the user's other sessions on every site,
and no catch-up brings one back (#22).

Before, Django's own session-hash check signed the user out of the Django site only, and
the first-visit catch-up signed them back in from a peer that still had a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.testing import hidden_fields
from tests.frameworks.harness import FRANK, URLS, FrameworkNetwork, join
from tests.frameworks.test_frameworks import DJANGO_ON_ASYNCIO

pytestmark = pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)

NEW_PASSWORD = "a-new-password-for-frank"


async def django_network(**site_settings: Any) -> FrameworkNetwork:
    from tests.frameworks.django_site import application

    app = await sync_to_async(application)()
    return await join(app, identity_name="django", **site_settings)


@pytest.fixture
async def frank() -> AsyncIterator[None]:
    """Frank's Django password back as the other tests know it, afterwards."""
    yield
    await set_django_password(FRANK[0], FRANK[1])


@sync_to_async
def set_django_password(email: str, password: str) -> None:
    """What ``manage.py changepassword`` or the admin does: set_password and save()."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(email=email)
    user.set_password(password)
    user.save()


def caught_up_nowhere_lately(browser: Any) -> None:
    browser.cookies.clear(name="__Host-sessionsync-seen")  # https sites: prefixed names


async def change_password_in_the_browser(browser: Any) -> None:
    page = await browser.get(f"{URLS['f']}/")
    fields = hidden_fields(page.text)
    fields["new_password"] = NEW_PASSWORD
    await browser.submit(f"{URLS['f']}/password", fields, from_page=page)


async def test_a_password_change_in_django_ends_every_other_session_everywhere(frank: None) -> None:
    net = await django_network()
    try:
        thief, owner = net.browser(), net.browser()
        await thief.sign_in("f", *FRANK)
        await owner.sign_in("f", *FRANK)
        assert await thief.everyone() == dict.fromkeys("acf", FRANK[0])

        await change_password_in_the_browser(owner)

        caught_up_nowhere_lately(thief)
        assert await thief.everyone() == dict.fromkeys("acf", None)
        assert await owner.everyone() == dict.fromkeys("acf", FRANK[0])  # this browser: signed in again
        for name in "acf":
            ended = await net.sites[name].site.stores.sessions.list(user=FRANK[0], include_ended=True)
            assert any(s.end_reason and "password changed" in s.end_reason for s in ended), name
    finally:
        await net.close()


async def test_a_password_reset_outside_any_request_signs_the_user_out_everywhere(frank: None) -> None:
    net = await django_network()
    try:
        browser = net.browser()
        await browser.sign_in("f", *FRANK)
        assert await browser.everyone() == dict.fromkeys("acf", FRANK[0])
        await set_django_password(FRANK[0], NEW_PASSWORD)  # in the server's process: the admin, a view
        caught_up_nowhere_lately(browser)
        assert await browser.everyone() == dict.fromkeys("acf", None)
    finally:
        await net.close()


async def test_no_catch_up_brings_back_a_django_session_a_password_reset_ended(frank: None) -> None:
    from asgi_sessionsync.testing_apps import login_app, session_login_app
    from tests.constants import ALICE
    from tests.frameworks.django_site import application
    from tests.frameworks.harness import C_SESSION_SECRET

    keeps = NetworkRules.from_mapping({"peers": {URLS["f"]: {"logout": "off"}}})  # C takes no sign-out from F
    apps = {
        "a": login_app("a", dict([ALICE]), URLS),
        "c": session_login_app("c", {}, URLS, secret_key=C_SESSION_SECRET),
        "f": await sync_to_async(application)(),
    }
    c_settings = {"identity": "starlette-session", "app_session_secret": C_SESSION_SECRET, "network_rules": keeps}
    net = FrameworkNetwork(apps, urls=URLS, site_settings={"c": c_settings, "f": {"identity": "django"}})
    try:
        browser = net.browser()
        await browser.sign_in("f", *FRANK)
        await set_django_password(FRANK[0], NEW_PASSWORD)
        assert await browser.who("c") == FRANK[0]  # the stale peer
        caught_up_nowhere_lately(browser)
        assert await browser.who("f") is None  # Django's catch-up asks C: refused
        caught_up_nowhere_lately(browser)
        assert await browser.who("a") is None
    finally:
        await net.close()
