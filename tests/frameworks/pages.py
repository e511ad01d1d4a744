"""The HTML every framework site renders (same contract as the demo), framework-free."""

from __future__ import annotations

from html import escape

from tests.constants import FRANK


def home(user: str | None, hidden: str = "") -> str:
    """``hidden``: extra hidden inputs for the forms (a CSRF token, for frameworks that want one)."""
    if user:
        return (
            f"<!doctype html><html><body><h1>Signed in as {escape(user)}</h1>"
            f'<form method="post" action="/logout">{hidden}<button>Sign out</button></form></body></html>'
        )
    return '<!doctype html><html><body><h1>Not signed in</h1><a href="/login">Sign in</a></body></html>'


def login_form(error: str = "", hidden: str = "") -> str:
    return (
        f"<!doctype html><html><body><h1>Sign in</h1><p>{escape(error)}</p>"
        f'<form method="post" action="/login">{hidden}<input name="email"><input name="password" type="password">'
        '<input type="hidden" name="next" value="/"><button>Sign in</button></form></body></html>'
    )


def csrf_input(token: str) -> str:
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(token)}">'


USERS = dict([FRANK])
