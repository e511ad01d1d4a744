"""``sign_in(request, email, role=...)`` (#16): the built-in identity can give a session a
role; peers never take it (they give their own default role)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync import SessionSyncMiddleware, sign_in
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app


def role_app() -> Starlette:
    async def login(request: Request) -> Response:
        sign_in(request, "root@example.com", name="Root", role="editor")
        return RedirectResponse("/me", status_code=303)

    async def me(request: Request) -> Response:
        user = request.user
        if not user.is_authenticated:
            return PlainTextResponse("anonymous")
        return PlainTextResponse(f"{user.email} {user.role} {' '.join(sorted(request.auth.scopes))}")

    return Starlette(routes=[Route("/login", login), Route("/me", me)])


async def test_a_role_given_to_sign_in_is_the_sessions_role_here_only() -> None:
    async with SiteNetwork({"a": role_app(), "b": login_app("b")}) as net:
        browser = net.browser()
        response = await browser.get("https://a.example/login")
        assert response.text == "root@example.com editor authenticated editor"
        assert await browser.who("b") == "root@example.com"
        provisioned = await net.sites["b"].site.stores.users.get("root@example.com")
        assert provisioned is not None and provisioned.role == "member"  # never a peer's role


def _misspelled_options_are_type_errors() -> None:
    """Checked by mypy, never run: if these were accepted, the ignores would be unused
    and mypy (strict: warn_unused_ignores) would fail."""
    SessionSyncMiddleware(role_app(), site_urll="https://a.example")  # type: ignore[call-arg]
    SessionSyncMiddleware(role_app(), peer_timeout=[1])  # type: ignore[arg-type]


def test_the_middlewares_keyword_options_are_typed() -> None:
    SessionSyncMiddleware(role_app(), env_file=None, site_url="https://a.example", secret_keys=[_key()])


def _key() -> str:
    from asgi_sessionsync.keys import generate_secret

    return generate_secret()
