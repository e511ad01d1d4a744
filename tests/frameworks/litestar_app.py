"""A Litestar app with a cookie-session login, as Litestar's documentation writes one."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from litestar import Litestar, MediaType, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import Body
from litestar.response import Redirect, Response

from tests.frameworks.pages import USERS, home, login_form

session_config = CookieBackendConfig(secret=b"litestar-test-key-32-bytes-long!")


@get("/", media_type=MediaType.HTML)
async def index(request: Request[Any, Any, Any]) -> str:
    return home(request.session.get("user"))


@get("/login", media_type=MediaType.HTML)
async def login_page() -> str:
    return login_form()


@post("/login", status_code=303)
async def login(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Response[str]:
    email = data.get("email", "").lower()
    expected = USERS.get(email)
    if expected is None or not secrets.compare_digest(data.get("password", ""), expected):
        return Response(login_form("Wrong email or password."), status_code=401, media_type=MediaType.HTML)
    request.set_session({"user": email})
    target = data.get("next", "/")
    return Redirect(target if target.startswith("/") and not target.startswith("//") else "/", status_code=303)


@post("/logout", status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/", status_code=303)


@get("/cart", media_type=MediaType.TEXT)
async def cart(request: Request[Any, Any, Any]) -> str:
    """An anonymous visitor's cart, kept in the same session as the login."""
    add = request.query_params.get("add")
    session = dict(request.session)
    items = list(session.get("cart", []))
    if add is not None:
        items.append(add)
        request.set_session({**session, "cart": items})
    return f"cart: {','.join(items)}; user: {session.get('user') or 'nobody'}"


app = Litestar(route_handlers=[index, login_page, login, logout, cart], middleware=[session_config.middleware])
