"""A FastAPI app with a cookie-session login, as FastAPI apps commonly do it
(Starlette's SessionMiddleware, ``request.session``); it knows nothing of sessionsync."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from starlette.middleware.sessions import SessionMiddleware

from tests.frameworks.pages import USERS, home, login_form

SECRET = "fastapi-app-session-secret"
app = FastAPI()
app.add_middleware(SessionMiddleware, secret_key=SECRET)


@app.get("/", response_class=HTMLResponse)
async def index(request: Request) -> str:
    return home(request.session.get("user"))


@app.get("/login", response_class=HTMLResponse)
async def login_page() -> str:
    return login_form()


@app.post("/login", response_model=None)
async def login(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> RedirectResponse | HTMLResponse:
    expected = USERS.get(email.lower())
    if expected is None or not secrets.compare_digest(password, expected):
        return HTMLResponse(login_form("Wrong email or password."), status_code=401)
    request.session["user"] = email.lower()
    return RedirectResponse(next if next.startswith("/") and not next.startswith("//") else "/", status_code=303)


@app.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@app.get("/cart", response_class=PlainTextResponse)
async def cart(request: Request, add: str | None = None) -> str:
    """An anonymous visitor's cart, kept in the same session as the login."""
    items = list(request.session.get("cart", []))
    if add is not None:
        items.append(add)
        request.session["cart"] = items
    return f"cart: {','.join(items)}; user: {request.session.get('user') or 'nobody'}"
