"""The identity adapter contract (docs/identity.md): what an adapter must do, and nothing
it must guess at."""

from __future__ import annotations

from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Scope

import asgi_sessionsync
import asgi_sessionsync.identity
from asgi_sessionsync.identity import Account, ActiveSession, AppLoginAdapter, IdentityAdapter, app_login_of
from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.frameworks.harness import ALICE, FRANK, HOP_SCOPE, join
from tests.frameworks.pages import USERS, home, login_form

LOGIN_KEY = "app.login"


class ScopeIdentity:
    """An adapter for an app whose login is a value it puts in the scope: it implements
    the base protocol only (no login of its own to read, make or end)."""

    intent_key: str | None = LOGIN_KEY

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        scope["app.user"] = session.user if session is not None else None

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        if LOGIN_KEY not in scope:
            return before, ""
        return scope[LOGIN_KEY], ""

    def signed_in_again(self, scope: Scope) -> bool:
        return False

    async def is_privileged(self, email: str) -> bool:
        return False


def base_only(adapter: ScopeIdentity) -> IdentityAdapter:
    """``adapter`` as the middleware takes it. A type checker wants every member of the
    protocol; at run time an adapter without the optional ones (``email_verified``,
    ``attach_site``) is given their defaults when the middleware is built."""
    return cast(IdentityAdapter, adapter)


def scope_login_app() -> Starlette:
    async def index(request: Request) -> Response:
        return HTMLResponse(home(request.scope.get("app.user")))

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(login_form())
        form = await request.form()
        email = str(form.get("email", ""))
        if USERS.get(email) != form.get("password"):
            return HTMLResponse(login_form("Wrong email or password."), status_code=401)
        request.scope[LOGIN_KEY] = email
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        request.scope[LOGIN_KEY] = None
        return RedirectResponse("/", status_code=303)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
        ]
    )


def test_what_an_adapter_author_needs_is_exported_from_the_package_and_identity() -> None:
    for module in (asgi_sessionsync, asgi_sessionsync.identity):
        for name in ("IdentityAdapter", "AppLoginAdapter", "Account", "ActiveSession"):
            assert name in module.__all__, (module.__name__, name)
            assert getattr(module, name) is getattr(asgi_sessionsync.identity, name)
    assert Account("a@example.com")._fields == ("email", "name", "role")


def test_the_built_in_adapters_say_which_protocol_they_follow() -> None:
    assert isinstance(asgi_sessionsync.SessionIdentity(), IdentityAdapter)
    assert not isinstance(asgi_sessionsync.SessionIdentity(), AppLoginAdapter)
    assert isinstance(StarletteSessionIdentity("k"), AppLoginAdapter)


async def test_an_adapter_with_only_the_base_members_shares_login_both_ways() -> None:
    net = await join(scope_login_app(), identity=base_only(ScopeIdentity()))
    browser = net.browser()
    await browser.sign_in("f", *FRANK)
    assert await browser.everyone() == {"a": FRANK[0], "c": FRANK[0], "f": FRANK[0]}
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "c": None, "f": None}
    await browser.sign_in("a", *ALICE)
    assert await browser.who("f") == ALICE[0]
    await net.close()


async def test_an_adapter_without_the_optional_members_is_given_their_defaults_at_start_up() -> None:
    adapter = ScopeIdentity()
    assert app_login_of(adapter) is None
    assert isinstance(adapter, IdentityAdapter)
    assert await base_only(adapter).email_verified(dict(HOP_SCOPE), FRANK[0]) is False
    base_only(adapter).attach_site(cast(Any, None))  # does nothing, and does not fail


class Slotted(ScopeIdentity):
    __slots__ = ()


class SlottedBase:
    __slots__ = ()
    intent_key: str | None = None
    expose = ScopeIdentity.expose
    signed_in_after = ScopeIdentity.signed_in_after
    signed_in_again = ScopeIdentity.signed_in_again
    is_privileged = ScopeIdentity.is_privileged


def test_an_adapter_with_no_room_for_a_default_is_refused_naming_the_member() -> None:
    assert app_login_of(Slotted()) is None  # a __dict__ from its base: room enough
    with pytest.raises(TypeError, match="email_verified"):
        app_login_of(SlottedBase())


class Missing:
    intent_key = None

    def expose(self, scope: Scope, session: ActiveSession | None) -> None:
        return None


class HalfAppLogin(ScopeIdentity):
    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        return None


class OldStyle(ScopeIdentity):
    separate_login = False


@pytest.mark.parametrize(
    ("adapter", "named"),
    [
        (Missing(), "signed_in_after"),
        (HalfAppLogin(), "login_cookies"),
        (OldStyle(), "separate_login"),
    ],
)
def test_an_adapter_that_does_not_follow_the_contract_is_refused_at_start_up_naming_why(
    adapter: Any, named: str
) -> None:
    with pytest.raises(TypeError, match=named):
        SiteNetwork({"a": login_app("a"), "f": scope_login_app()}, identities={"f": adapter})


class RecordingIdentity(StarletteSessionIdentity):
    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.made: list[object] = []

    async def login_cookies(self, scope: Scope, account: Account) -> list[bytes] | None:
        self.made.append(account)
        return await super().login_cookies(scope, account)


async def test_an_adapter_is_handed_a_public_account_never_the_stored_user_record() -> None:
    secret = "f-app-secret"
    identity = RecordingIdentity(secret)
    net = await join(session_login_app("f", USERS, {}, secret_key=secret), identity=identity)
    browser = net.browser()
    await browser.sign_in("a", *ALICE)
    assert await browser.who("f") == ALICE[0]
    assert identity.made == [Account(ALICE[0], "", "member")]
    assert all(type(made) is Account for made in identity.made)
    await net.close()


# -- emails are validated, from adapters and from peers (#10) ------------------------------


class TokenReportingIdentity(ScopeIdentity):
    """An adapter that reports what the app stores (a token), not an email."""

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        if LOGIN_KEY not in scope:
            return before, ""
        return ("tok_8f3a9c" if scope[LOGIN_KEY] else None), ""


async def no_trace_of(net: Any, value: str) -> None:
    for app in net.apps.values():
        assert await app.site.stores.users.get(value) is None
        assert await app.site.stores.sessions.list(user=value, include_ended=True) == []


async def test_an_adapter_value_that_is_not_an_email_is_never_a_sign_in() -> None:
    net = await join(scope_login_app(), identity=base_only(TokenReportingIdentity()))
    browser = net.browser()
    await browser.sign_in("f", *FRANK)
    assert await browser.who("a") is None and await browser.who("c") is None
    await no_trace_of(net, "tok_8f3a9c")
    await net.close()


class TokenAppUser(StarletteSessionIdentity):
    """Reports a token for whoever the app's cookie names."""

    async def app_user(self, scope: Scope, cookie_header: bytes | None) -> str | None:
        found = await super().app_user(scope, cookie_header)
        return "tok_8f3a9c" if found else None

    async def signed_in_after(
        self, scope: Scope, before: str | None, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, str]:
        found, name = await super().signed_in_after(scope, before, headers)
        return ("tok_8f3a9c" if found else None), name


async def test_an_app_login_that_names_no_email_is_not_adopted() -> None:
    secret = "f-app-secret"
    identity = TokenAppUser(secret)
    net = await join(session_login_app("f", USERS, {}, secret_key=secret), identity=identity)
    made = await identity.login_cookies(dict(HOP_SCOPE), Account(FRANK[0]))
    assert made is not None
    name, value = made[0].decode().split(";", 1)[0].split("=", 1)
    browser = net.browser()
    browser.cookies.set(name, value, domain="f.example", secure=True)
    await browser.get(f"{net.urls['f']}/")
    await no_trace_of(net, "tok_8f3a9c")
    await net.close()


async def test_a_peer_that_vouches_for_something_that_is_not_an_email_signs_nobody_in() -> None:
    from asgi_sessionsync.stores import User
    from asgi_sessionsync.testing import DEFAULT_CLIENT_IP

    net = await join(scope_login_app(), identity=base_only(ScopeIdentity()))
    # Site a has (from a bug, or an older version) a session for a user that is no email.
    a = net.apps["a"].site
    scope = {"type": "http", "headers": [], "client": (DEFAULT_CLIENT_IP, 50000)}
    _, token = await a.starter.start(User("tok_8f3a9c", "member"), chain=None, scope=scope, via="test")
    browser = net.browser()
    browser.cookies.set(net.apps["a"].cookie_names.session, token, domain="a.example", secure=True)
    page = await browser.get(f"{net.urls['f']}/")  # catch-up asks a, which vouches for it
    assert "/_sessionsync/hop" in " ".join(str(r.url) for r in page.history)
    assert await browser.who("f") is None
    for name in ("c", "f"):
        assert await net.apps[name].site.stores.users.get("tok_8f3a9c") is None
    await net.close()
