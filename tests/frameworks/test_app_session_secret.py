"""A wrong app-session secret must fail loudly, never sign the network out (#22).

With a typo in ``SESSIONSYNC_APP_SESSION_SECRET`` the middleware could not read the app's
cookie (or wrote one the app could not read) and concluded "signed out": a sign-in on
another site became a sign-out everywhere. Now a cookie that is there but cannot be read
is "unknown", said once (the cookie and the variable, never the value); and the options
are read from the app's own ``SessionMiddleware`` when the variables are not given.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from asgi_sessionsync import SessionSyncMiddleware
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.settings import Settings
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE, BOB

APP_SECRET = "the-apps-own-session-secret"
TYPO = "the-apps-own-session-secreT"


def network(c_settings: dict[str, Any], *, c_app: Starlette | None = None) -> SiteNetwork:
    c = c_app or session_login_app("c", dict([BOB]), secret_key=APP_SECRET)
    settings = {"identity": "starlette-session", **c_settings}
    return SiteNetwork({"a": login_app("a", dict([ALICE])), "c": c}, site_settings={"c": settings})


def site_settings(**options: Any) -> Settings:
    return Settings.from_env(
        {},
        env_file=None,
        site_url="https://c.example",
        secret_keys=[generate_secret()],
        store="memory://",
        identity="starlette-session",
        **options,
    )


def said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_a_wrong_secret_never_turns_a_sign_in_elsewhere_into_a_sign_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with network({"app_session_secret": TYPO}) as net:
        browser = net.browser()
        with caplog.at_level(logging.WARNING, logger="asgi_sessionsync"):
            await browser.sign_in("a", *ALICE)
            await browser.who("c")  # the first visit of C: its app cannot read the cookie we wrote
            await browser.who("c")
        assert await browser.who("a") == ALICE[0]  # not signed out by C
        sessions_a = await net.sites["a"].site.stores.sessions.list(user=ALICE[0])
        assert [s.end_reason for s in sessions_a] == [None]
        # Said at start-up (the setting is not the app's secret), and once when the app
        # could not read the cookie written with it.
        assert len(said(caplog, "SESSIONSYNC_APP_SESSION_SECRET differs from the app's")) == 1
        warned = said(caplog, "the app did not read its session cookie")
        assert len(warned) == 1, warned
        assert "'session'" in warned[0] and "SESSIONSYNC_APP_SESSION_SECRET" in warned[0]
        assert all(TYPO not in r.getMessage() and APP_SECRET not in r.getMessage() for r in caplog.records)


async def test_an_app_cookie_that_does_not_verify_is_unknown_not_nobody(caplog: pytest.LogCaptureFixture) -> None:
    async with network({"app_session_secret": TYPO}) as net:
        browser = net.browser()
        with caplog.at_level(logging.WARNING, logger="asgi_sessionsync"):
            await browser.sign_in("c", *BOB)  # the app signs its own cookie, with the real secret
            first = await net.sites["c"].site.stores.sessions.list(user=BOB[0])
            for _ in range(3):
                assert await browser.who("c") == BOB[0]
        sessions = await net.sites["c"].site.stores.sessions.list(user=BOB[0])
        # Our session lives on: nothing was ended (or started again) from a cookie we cannot read.
        assert [s.sid for s in sessions] == [s.sid for s in first]
        assert all(s.end_reason is None for s in sessions)
        assert await browser.who("a") == BOB[0]
        warned = said(caplog, "does not verify")
        assert len(warned) == 1, warned
        assert "'session'" in warned[0] and "SESSIONSYNC_APP_SESSION_SECRET" in warned[0]
        cookie = browser.cookies.get("session", "c.example")
        assert cookie is not None and all(cookie not in r.getMessage() for r in caplog.records)


async def test_the_options_are_read_from_the_apps_session_middleware(caplog: pytest.LogCaptureFixture) -> None:
    """No SESSIONSYNC_APP_SESSION_* at all: the secret, the cookie's name and its options
    come from the app's SessionMiddleware, and the log says where they came from."""
    c_app = session_login_app("c", dict([BOB]), secret_key=APP_SECRET)
    c_app.user_middleware = [
        Middleware(SessionMiddleware, secret_key=APP_SECRET, session_cookie="c_sess", max_age=3600, same_site="strict")
    ]
    with caplog.at_level(logging.INFO, logger="asgi_sessionsync"):
        async with network({}, c_app=c_app) as net:
            browser = net.browser()
            await browser.sign_in("a", *ALICE)
            assert await browser.who("c") == ALICE[0]
            written = [c for c in browser.cookies if c.name == "c_sess"]
            assert len(written) == 1 and written[0].samesite == "strict"
            await browser.sign_out("c")
            assert await browser.everyone() == {"a": None, "c": None}
    lines = said(caplog, "read from the app's SessionMiddleware")
    assert len(lines) == 1 and "secret_key" in lines[0]
    assert all(APP_SECRET not in r.getMessage() for r in caplog.records)


def test_an_explicit_setting_wins_and_a_different_one_is_said(caplog: pytest.LogCaptureFixture) -> None:
    app = session_login_app("c", {}, secret_key=APP_SECRET)
    settings = site_settings(app_session_secret=TYPO, app_session_cookie="other")
    with caplog.at_level(logging.INFO, logger="asgi_sessionsync"):
        mw = SessionSyncMiddleware(app, settings)
    identity: Any = mw.identity
    assert identity.cookie_name == "other"
    warned = said(caplog, "differs from the app's")
    assert any("SESSIONSYNC_APP_SESSION_SECRET" in line for line in warned), warned
    assert any("SESSIONSYNC_APP_SESSION_COOKIE" in line for line in warned), warned
    assert all(TYPO not in r.getMessage() and APP_SECRET not in r.getMessage() for r in caplog.records)


def test_no_secret_anywhere_is_a_config_error_naming_the_variable() -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="SESSIONSYNC_APP_SESSION_SECRET"):
        SessionSyncMiddleware(bare, site_settings())


async def test_a_display_name_key_names_the_user_everywhere() -> None:
    """SESSIONSYNC_APP_SESSION_NAME_KEY: the app keeps the user's name beside the email."""
    from asgi_sessionsync.testing_apps import session_login_app as app_with

    c_app = app_with("c", dict([BOB]), secret_key=APP_SECRET)
    async with network({"app_session_secret": APP_SECRET, "app_session_name_key": "name"}, c_app=c_app) as net:
        identity: Any = net.sites["c"].identity
        scope: dict[str, Any] = {"session": {"user": BOB[0], "name": "Bob Builder"}, "headers": []}
        assert await identity.signed_in_after(scope, None, []) == (BOB[0], "Bob Builder")
