"""The HTML every framework site renders (same contract as the demo), framework-free."""

from __future__ import annotations

from html import escape


def home(user: str | None) -> str:
    if user:
        return (
            f"<!doctype html><html><body><h1>Signed in as {escape(user)}</h1>"
            '<form method="post" action="/logout"><button>Sign out</button></form></body></html>'
        )
    return '<!doctype html><html><body><h1>Not signed in</h1><a href="/login">Sign in</a></body></html>'


def login_form(error: str = "") -> str:
    return (
        f"<!doctype html><html><body><h1>Sign in</h1><p>{escape(error)}</p>"
        '<form method="post" action="/login"><input name="email"><input name="password" type="password">'
        '<input type="hidden" name="next" value="/"><button>Sign in</button></form></body></html>'
    )


USERS = {"frank@example.com": "fr4nk"}
