"""A Quart app with a session-cookie login, as Quart's documentation writes one."""

from __future__ import annotations

import secrets

from quart import Quart, redirect, request, session
from quart.typing import ResponseReturnValue

from tests.frameworks.pages import USERS, home, login_form

app = Quart(__name__)
app.secret_key = "quart-app-secret-key-for-tests-only"


@app.route("/")
async def index() -> str:
    return home(session.get("user"))


@app.route("/login", methods=["GET", "POST"])
async def login() -> ResponseReturnValue:
    if request.method == "GET":
        return login_form()
    form = await request.form
    email = form.get("email", "").lower()
    expected = USERS.get(email)
    if expected is None or not secrets.compare_digest(form.get("password", ""), expected):
        return login_form("Wrong email or password."), 401
    session["user"] = email
    target = form.get("next", "/")
    return redirect(target if target.startswith("/") and not target.startswith("//") else "/")


@app.post("/logout")
async def logout() -> ResponseReturnValue:
    session.clear()
    return redirect("/")


@app.route("/cart")
async def cart() -> ResponseReturnValue:
    """An anonymous visitor's cart, kept in the same session as the login."""
    items = list(session.get("cart", []))
    if "add" in request.args:
        items.append(request.args["add"])
        session["cart"] = items
    return f"cart: {','.join(items)}; user: {session.get('user') or 'nobody'}", 200, {"content-type": "text/plain"}
