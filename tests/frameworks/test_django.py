"""The Django adapter logs users in the way Django does, and never makes an administrator
for a peer (issues #9, #10)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from asgi_sessionsync.identity import Account
from tests.frameworks.harness import ALICE, FRANK, HOP_SCOPE, URLS, FrameworkNetwork, join
from tests.frameworks.test_frameworks import DJANGO_ON_ASYNCIO, django_network

pytestmark = pytest.mark.asyncio_only(DJANGO_ON_ASYNCIO)

BOSS = ("boss@example.com", "b0ss-password")  # an account on A; a superuser on the Django site


@pytest.fixture
async def net() -> AsyncIterator[FrameworkNetwork]:
    built = await django_network()
    yield built
    await built.close()


@sync_to_async
def django_user(username: str, email: str, password: str | None = None, **flags: bool) -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model()._default_manager.update_or_create(
        username=username, defaults={"email": email, "is_active": True, "is_staff": False, "is_superuser": False}
    )
    for name, value in flags.items():
        setattr(user, name, value)
    user.set_password(password)
    user.save()
    return user


@sync_to_async
def sessions_of(email: str) -> list[str]:
    """The keys of the Django sessions logged in as a user with this email."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    ids = {str(pk) for pk in get_user_model()._default_manager.filter(email__iexact=email).values_list("pk", flat=True)}
    return [s.session_key for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") in ids]


@sync_to_async
def delete_sessions_of(email: str) -> None:
    """Forget what earlier tests left in the shared test database."""
    from django.contrib.sessions.models import Session

    Session.objects.filter(session_key__in=async_to_sync(sessions_of)(email)).delete()


@pytest.fixture
def logged_in() -> Iterator[list[tuple[str, str, str | None]]]:
    from django.contrib.auth.signals import user_logged_in

    seen: list[tuple[str, str, str | None]] = []

    def receiver(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        seen.append((user.email, type(request).__name__, request.META.get("REMOTE_ADDR")))

    user_logged_in.connect(receiver, weak=False, dispatch_uid="test-receiver")
    yield seen
    user_logged_in.disconnect(dispatch_uid="test-receiver")


async def test_a_peer_sign_in_is_a_django_login_signals_run_and_last_login_is_set(
    net: FrameworkNetwork, logged_in: list[tuple[str, str, str | None]]
) -> None:
    from django.contrib.auth import get_user_model

    started = time.time()
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await browser.who("f") == ALICE[0]
    assert [(email, kind) for email, kind, _ in logged_in] == [(ALICE[0], "ASGIRequest")]
    assert logged_in[0][2] is not None  # the request is the browser's: its address, its headers
    user = await get_user_model()._default_manager.aget(email=ALICE[0])
    assert user.last_login is not None and user.last_login.timestamp() >= started - 1


def cookie_of(made: list[bytes] | None, name: str = "sessionid") -> str:
    assert made is not None
    (cookie,) = [c.decode() for c in made if c.startswith(name.encode() + b"=")]
    return cookie


@pytest.mark.parametrize(
    ("overrides", "httponly", "max_age"),
    [
        ({}, True, "Max-Age=1209600"),
        ({"SESSION_COOKIE_HTTPONLY": False}, False, "Max-Age=1209600"),
        ({"SESSION_EXPIRE_AT_BROWSER_CLOSE": True}, True, None),
        ({"SESSION_COOKIE_AGE": 3600}, True, "Max-Age=3600"),
    ],
)
async def test_the_session_cookie_of_a_peer_sign_in_follows_djangos_settings(
    net: FrameworkNetwork, overrides: dict[str, Any], httponly: bool, max_age: str | None
) -> None:
    from django.test import override_settings

    from asgi_sessionsync.identity.django import DjangoIdentity

    with override_settings(**overrides):
        cookie = cookie_of(await DjangoIdentity().login_cookies(dict(HOP_SCOPE), Account(FRANK[0])), "sessionid")
    attributes = [part.strip() for part in cookie.split(";")]
    assert ("HttpOnly" in attributes) is httponly
    assert [a for a in attributes if a.startswith("Max-Age")] == ([max_age] if max_age else [])
    assert "Secure" in attributes  # SESSION_COOKIE_SECURE=True on the test site


async def test_an_anonymous_visitors_django_session_is_kept_by_a_peer_sign_in(net: FrameworkNetwork) -> None:
    browser = net.browser()
    cart = await browser.get(f"{URLS['f']}/cart", params={"add": "teapot"})
    assert cart.text == "cart: teapot; user: nobody"
    anonymous = browser.cookies.get("sessionid", "f.example")
    await browser.sign_in("a", *ALICE)
    assert (await browser.get(f"{URLS['f']}/cart")).text == f"cart: teapot; user: {ALICE[0]}"
    assert browser.cookies.get("sessionid", "f.example") != anonymous  # a new key, as Django's login() makes


async def test_a_peer_never_signs_in_a_django_administrator(net: FrameworkNetwork) -> None:
    await django_user("boss", "Boss@Example.com", is_superuser=True, is_staff=True)
    network = await join(net.sites["f"].app, identity_name="django", a_accounts=dict([BOSS]))
    browser = network.browser()
    await browser.sign_in("a", *BOSS)
    assert await browser.who("c") == BOSS[0]
    assert await browser.who("f") is None
    assert (await browser.get(f"{URLS['f']}/staff")).status_code == 403
    assert await sessions_of(BOSS[0]) == []
    await network.close()


async def test_a_peer_trusted_for_privileged_accounts_signs_a_django_administrator_in(net: FrameworkNetwork) -> None:
    await django_user("boss", "Boss@Example.com", is_superuser=True, is_staff=True)
    network = await join(
        net.sites["f"].app, identity_name="django", a_accounts=dict([BOSS]), trusted_for_privileged=[URLS["a"]]
    )
    browser = network.browser()
    await browser.sign_in("a", *BOSS)
    assert await browser.who("f") == "Boss@Example.com"  # as Django has it
    assert (await browser.get(f"{URLS['f']}/staff")).text == "staff page for Boss@Example.com"
    assert len(await sessions_of(BOSS[0])) == 1
    await network.close()


async def test_privileged_means_any_django_user_with_that_email_is_staff_or_superuser(net: FrameworkNetwork) -> None:
    from asgi_sessionsync.identity.django import DjangoIdentity

    identity = DjangoIdentity()
    await django_user("plain-twin", "twin@example.com")
    assert not await identity.is_privileged("twin@example.com")
    await django_user("staff-twin", "TWIN@example.com", is_staff=True)  # Django allows the same email twice
    assert await identity.is_privileged("twin@example.com")
    await django_user("staff-twin", "TWIN@example.com", is_superuser=True)
    assert await identity.is_privileged("Twin@Example.com")
    assert not await identity.is_privileged("nobody-here@example.com")


async def test_an_email_that_several_django_users_share_is_not_signed_in_by_a_peer(net: FrameworkNetwork) -> None:
    from asgi_sessionsync.identity.django import DjangoIdentity

    await django_user("one", "shared@example.com")
    await django_user("two", "Shared@example.com")
    assert await DjangoIdentity().login_cookies(dict(HOP_SCOPE), Account("shared@example.com")) is None
    assert await sessions_of("shared@example.com") == []


ROOT = ("root@example.com", "r00t-password")  # a superuser who signs in on the Django site itself


async def signed_in_superuser(net: FrameworkNetwork) -> tuple[Any, str]:
    """Root signs in with Django's own form on f (and so everywhere); the browser and
    the Django session key it got."""
    await django_user(ROOT[0], ROOT[0], ROOT[1], is_superuser=True, is_staff=True)
    await delete_sessions_of(ROOT[0])
    browser = net.browser()
    await browser.sign_in("f", *ROOT)
    assert (await browser.get(f"{URLS['f']}/staff")).status_code == 200
    key = browser.cookies.get("sessionid", "f.example")
    assert key is not None and await sessions_of(ROOT[0]) == [key]
    return browser, key


async def replayed_alone(net: FrameworkNetwork, key: str) -> int:
    """The status of /staff for a browser carrying only that ``sessionid``."""
    thief = net.browser()
    thief.cookies.set("sessionid", key, domain="f.example", secure=True)
    return (await thief.get(f"{URLS['f']}/staff")).status_code


async def test_a_sign_out_on_another_site_deletes_the_django_session_at_once(net: FrameworkNetwork) -> None:
    browser, key = await signed_in_superuser(net)
    await browser.sign_out("a")
    assert await sessions_of(ROOT[0]) == []  # gone from django_session, not merely hidden
    assert await replayed_alone(net, key) == 403
    assert await browser.who("f") is None


async def test_revoking_a_user_deletes_their_django_sessions(net: FrameworkNetwork) -> None:
    _, key = await signed_in_superuser(net)
    await net.sites["f"].site.sign_outs.everywhere(ROOT[0], reason="revoked by administrator")
    assert await sessions_of(ROOT[0]) == []
    assert await replayed_alone(net, key) == 403


async def test_a_django_login_whose_session_ended_is_never_adopted_again(net: FrameworkNetwork) -> None:
    """Ended where the Django session could not be deleted (by a command in another
    process, or housekeeping): the sessionid alone is refused and then deleted."""
    browser, key = await signed_in_superuser(net)
    registry = net.sites["f"].site.stores.sessions
    assert await registry.expire(time.time() + 30 * 86400) == 1  # what housekeeping does at the end of its life
    assert await sessions_of(ROOT[0]) == [key]
    assert await replayed_alone(net, key) == 403
    assert await sessions_of(ROOT[0]) == []
    assert all(r.via != "adopted from the app's own login" for r in await registry.list(user=ROOT[0]))
    assert await browser.who("f") is None


async def test_a_django_login_that_comes_with_its_ended_sessions_cookie_is_deleted(net: FrameworkNetwork) -> None:
    browser, _ = await signed_in_superuser(net)
    assert await net.sites["f"].site.stores.sessions.expire(time.time() + 30 * 86400) == 1
    assert await browser.who("f") is None  # hidden from Django, cleared in the browser …
    assert await sessions_of(ROOT[0]) == []  # … and ended in Django


@pytest.mark.parametrize("on_limit", ["block", "redirect"])
async def test_a_sign_in_the_session_policy_blocks_deletes_the_django_login_the_view_made(
    net: FrameworkNetwork, on_limit: str
) -> None:
    """Django's login() has already saved a session when the middleware refuses the
    sign-in (max_sessions = 1, on_limit = block or redirect): clearing the cookie is not
    enough, the session must be gone from Django's store too, or its key still opens the site."""
    from asgi_sessionsync.governance.policy import Policy

    await delete_sessions_of(FRANK[0])
    rules: dict[str, Any] = {"max_sessions": 1, "on_limit": on_limit}
    if on_limit == "redirect":
        rules["redirect_to"] = "/too-many"
    network = await join(net.sites["f"].app, identity_name="django", policy=Policy.from_mapping({"defaults": rules}))
    try:
        first, second = network.browser(), network.browser("198.51.100.20")
        await first.sign_in("f", *FRANK)
        assert await first.who("f") == FRANK[0]
        (kept,) = await sessions_of(FRANK[0])

        refused = await second.sign_in("f", *FRANK)
        if on_limit == "block":
            assert refused.status_code == 403 and "Sign-in refused" in refused.text
        else:
            assert str(refused.url) == f"{URLS['f']}/too-many"  # the site's own page (a 404 in this app)
        assert await second.who("f") is None
        assert await sessions_of(FRANK[0]) == [kept]  # the refused login is not left in django_session
        assert await first.who("f") == FRANK[0]
        blocked = [
            r
            for r in await network.sites["f"].site.stores.sessions.list(user=FRANK[0], include_ended=True)
            if r.end_reason == "blocked: max_sessions"
        ]
        assert len(blocked) == 1
    finally:
        await network.close()


# -- user sync: Django's User model is the user store (issue #14) ---------------------------

DJANGO_USER_SYNC = {
    "defaults": {
        **dict.fromkeys(("create", "update", "delete", "password", "role"), "both"),
        "password_formats": ["pbkdf2_sha256"],
    }
}


@sync_to_async
def rename_in_django(email: str, first: str, last: str) -> None:
    """What Django's admin does on "Save": the ORM's save() of the model."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(email=email)
    user.first_name, user.last_name = first, last
    user.save()


@sync_to_async
def django_names(email: str) -> tuple[str, str, bool]:
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(email=email)
    return user.first_name, user.last_name, user.is_staff


async def test_a_name_changed_in_django_reaches_a_starlette_site_unchanged(net: FrameworkNetwork) -> None:
    from asgi_sessionsync.network_rules import NetworkRules
    from asgi_sessionsync.users import set_role, update_user

    rules = NetworkRules.from_mapping(DJANGO_USER_SYNC)
    network = await join(net.sites["f"].app, identity_name="django", every_site={"network_rules": rules})
    try:
        a, f = network.sites["a"].site, network.sites["f"].site
        await rename_in_django(FRANK[0], "Frank", "Zappa Jr")
        on_a = await a.stores.users.get(FRANK[0])
        assert on_a is not None and on_a.name == "Frank Zappa Jr"
        assert on_a.password_hash is not None and on_a.password_hash.startswith("pbkdf2_sha256$")  # Django's own

        # And back: a change made on the Starlette site is written to Django's model, once.
        await update_user(a, FRANK[0], name="Francis Vincent Zappa")
        assert await django_names(FRANK[0]) == ("Francis", "Vincent Zappa", False)
        assert not [m for m in await f.stores.outbox.pending() if m.kind == "user"]
        sent_by_f = [m for m in f.stores.outbox._messages.values() if m.kind == "user"]  # type: ignore[attr-defined]
        assert len(sent_by_f) == 2  # the create, to a and c: applying a peer's change is not sent back

        # A peer never makes a Django user staff unless trusted for privileged roles.
        await set_role(a, FRANK[0], "staff")
        assert (await django_names(FRANK[0]))[2] is False
    finally:
        await network.close()


@sync_to_async
def change_email_in_django(email: str, new: str) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(email=email)
    user.email = new
    user.save()


async def test_saving_a_synced_django_user_with_another_email_is_refused(net: FrameworkNetwork) -> None:
    from asgi_sessionsync.network_rules import NetworkRules
    from asgi_sessionsync.users import EmailChangeRefused

    rules = NetworkRules.from_mapping(DJANGO_USER_SYNC)
    network = await join(net.sites["f"].app, identity_name="django", every_site={"network_rules": rules})
    try:
        await rename_in_django(FRANK[0], "Frank", "Synced")  # sent to the peers: now a synced user
        with pytest.raises(EmailChangeRefused):
            await change_email_in_django(FRANK[0], "frank@elsewhere.example")
        assert (await django_names(FRANK[0]))[:2] == ("Frank", "Synced")  # the row is as it was
    finally:
        await network.close()


@sync_to_async
def django_password_is(email: str, password: str) -> bool | None:
    """Whether the Django user of ``email`` has ``password`` (None: there is no such user)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.filter(email__iexact=email).first()
    return None if user is None else bool(user.check_password(password))


@sync_to_async
def django_hash(password: str) -> str:
    from django.contrib.auth.hashers import make_password

    return str(make_password(password))


async def test_a_peer_cannot_reset_or_delete_a_django_superuser(net: FrameworkNetwork) -> None:
    # Issue #20: a peer whose password and delete actions are accepted set a Django
    # superuser's password (and signed in to the admin with it), then deleted the account.
    from asgi_sessionsync.network_rules import NetworkRules
    from asgi_sessionsync.users import create_user, delete_user, set_password

    boss = ("boss-admin@example.com", "b0ss-password")
    await django_user("boss-admin", boss[0], boss[1], is_superuser=True, is_staff=True)
    rules = NetworkRules.from_mapping(DJANGO_USER_SYNC)
    network = await join(net.sites["f"].app, identity_name="django", every_site={"network_rules": rules})
    try:
        a = network.sites["a"].site
        stolen = await django_hash("attacker-password")
        await create_user(a, boss[0], name="Boss", password_hash=stolen)
        await set_password(a, boss[0], await django_hash("attacker-password-2"))
        assert await django_password_is(boss[0], boss[1]) is True
        await delete_user(a, boss[0])
        assert await django_password_is(boss[0], boss[1]) is True  # still there, unchanged
        # A peer trusted for privileged accounts may (the operator said so).
        await network.close()
        network = await join(
            net.sites["f"].app,
            identity_name="django",
            every_site={"network_rules": rules},
            trusted_for_privileged=[URLS["a"]],
        )
        a = network.sites["a"].site
        await create_user(a, boss[0], name="Boss")
        await set_password(a, boss[0], await django_hash("rotated-by-a"))
        assert await django_password_is(boss[0], "rotated-by-a") is True
    finally:
        await network.close()


async def test_the_hooks_are_django_signals_sent_in_a_thread(net: FrameworkNetwork) -> None:
    """#26: where Django is the identity, every hook's event is a Django signal too
    (``asgi_sessionsync.djangoapp.signals``); receivers run in a worker thread."""
    import threading

    from asgi_sessionsync.djangoapp.signals import signed_in, signed_out
    from asgi_sessionsync.hooks import SignedIn, SignedOut

    seen: list[tuple[Any, str]] = []

    def receiver(sender: Any, event: Any, **kwargs: Any) -> None:
        seen.append((event, threading.current_thread().name))

    signed_in.connect(receiver, weak=False, dispatch_uid="hook-test")
    signed_out.connect(receiver, weak=False, dispatch_uid="hook-test")
    try:
        browser = net.browser()
        await browser.sign_in("a", *ALICE)
        assert await browser.who("f") == ALICE[0]
        await browser.sign_out("a")
        for _ in range(500):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        (into, _), (out, thread) = seen
        assert isinstance(into, SignedIn) and into.email == ALICE[0] and into.how == "hop"
        assert isinstance(out, SignedOut) and out.peer == URLS["a"]
        assert thread != threading.main_thread().name
    finally:
        signed_in.disconnect(dispatch_uid="hook-test")
        signed_out.disconnect(dispatch_uid="hook-test")
