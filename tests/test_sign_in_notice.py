"""New-sign-in notices (issue #26): ``SESSIONSYNC_NEW_SIGN_IN_NOTICE`` mails the user when
a sign-in here comes from a kind of device or a country not seen for them before.

Two in-process sites; the mail goes through a real SMTP server (aiosmtpd on a free local
port). Browsers differ by their ``User-Agent`` (ua-parser reads the kind of device) and
by the country a trusted proxy's header gives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from aiosmtpd.controller import Controller

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports
from tests.mailbox import Inbox, local_smtp

USER = "ann@example.com"
PASSWORD = "correct horse"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    with local_smtp() as server:
        yield server


def network(smtp_url: str, **more: Any) -> SiteNetwork:
    mail = {"smtp_url": smtp_url, "mail_from": "Sites <no-reply@example.com>", "new_sign_in_notice": True}
    return SiteNetwork(
        {"a": login_app("a", {USER: PASSWORD}), "b": login_app("b")},
        settings={"catchup": False, "country_header": "cf-ipcountry", "trusted_proxies": "203.0.113.0/24", **mail},
    )


async def sign_in(net: SiteNetwork, agent: str, country: str = "DE") -> Any:
    browser = net.browser()
    browser.client.headers["user-agent"] = agent
    browser.client.headers["cf-ipcountry"] = country
    await browser.sign_in("a", USER, PASSWORD)
    assert await browser.who("a") == USER and await browser.who("b") == USER  # carried to B too
    return browser


async def quiet(inbox: Inbox, count: int, wait: float = 1.0) -> None:
    """No more than ``count`` messages arrive within ``wait`` seconds (the notices are
    mailed in the background, on this event loop: waited for without blocking it)."""
    await anyio.sleep(wait)
    assert len(inbox.messages) == count, [m["Subject"] for m in inbox.messages]


async def arrived(inbox: Inbox, count: int) -> Message:
    """The ``count``-th message, once it has arrived (within 15 s)."""
    with anyio.fail_after(15):
        while len(inbox.messages) < count:  # noqa: ASYNC110 - the SMTP server's thread: no event to wait on
            await anyio.sleep(0.05)
    return inbox.messages[count - 1]


def body_of(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    return body.decode()


async def test_a_new_kind_of_device_or_country_is_noticed_and_the_first_sign_in_ever_is_not(
    smtp: tuple[str, Inbox],
) -> None:
    url, inbox = smtp
    async with network(url) as net:
        first = await sign_in(net, DESKTOP)  # the first sign-in ever: nothing to compare with
        await first.sign_out("a")
        await sign_in(net, DESKTOP)  # the same kind of device, the same country
        await quiet(inbox, 0)

        phone = await sign_in(net, PHONE)
        message = await arrived(inbox, 1)
        assert message["To"] == USER and message["From"] == "Sites <no-reply@example.com>"
        assert message["Subject"] == "New sign-in to a.example"
        assert message["Auto-Submitted"] == "auto-generated"
        body = body_of(message)
        assert "a new kind of device (mobile)" in body and "Country: DE" in body
        assert "Mobile Safari" in body  # browser and system, as ua-parser names them
        # No secret and no link in it: no cookie, no address of the client, no URL.
        session = next(c.value for c in phone.cookies if c.name == net.sites["a"].cookie_names.session)
        assert session not in body and "203.0.113" not in body and "http" not in body
        # B, where the hop signed the browser in too, sent nothing: the sign-in was A's.
        await quiet(inbox, 1)

        await sign_in(net, PHONE)  # seen now
        await sign_in(net, DESKTOP, country="FR")
        message = await arrived(inbox, 2)
        body = body_of(message)
        assert "a new country (FR)" in body and "new kind of device" not in body
        await quiet(inbox, 2)


async def test_off_by_default_and_it_needs_a_mailer(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with SiteNetwork(
        {"a": login_app("a", {USER: PASSWORD}), "b": login_app("b")},
        settings={"catchup": False, "smtp_url": url, "mail_from": "no-reply@example.com"},
    ) as net:
        await sign_in(net, DESKTOP)
        await sign_in(net, PHONE)
        await quiet(inbox, 0)
    with pytest.raises(ConfigError, match="SESSIONSYNC_NEW_SIGN_IN_NOTICE"):
        SiteNetwork({"a": login_app("a")}, settings={"new_sign_in_notice": True})


class SlowInbox(Inbox):
    """An SMTP server that takes 3 seconds to accept each message."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(3)
        return await super().handle_DATA(server, session, envelope)


def test_a_slow_smtp_server_never_holds_the_sign_in_on_a_real_server(tmp_path: Path) -> None:
    """The notice is mailed in the background (the worker's task group, under uvicorn with
    lifespan): a sign-in answers at once though the SMTP server takes 3 s per message."""
    inbox = SlowInbox()
    smtp_port, port = free_ports(2)
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    base = f"http://127.0.0.1:{port}"
    env = {
        "SESSIONSYNC_SITE_URL": base,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": "https://b.example|http://127.0.0.1:9",
        "SESSIONSYNC_STORE": f"sqlite:///{tmp_path / 'a.sqlite3'}",
        "SESSIONSYNC_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SESSIONSYNC_MAIL_FROM": "no-reply@example.com",
        "SESSIONSYNC_NEW_SIGN_IN_NOTICE": "true",
        "SESSIONSYNC_CATCHUP": "false",
        "KIT_ACCOUNTS": f"{USER}:{PASSWORD}",
        "KIT_CSRF_CHECK": "false",
    }

    def sign_in_as(agent: str) -> float:
        started = time.monotonic()
        with httpx.Client(headers={"user-agent": agent}, timeout=20) as client:
            answer = client.post(f"{base}/login", data={"email": USER, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        return time.monotonic() - started

    try:
        with serve_site_from_env(env, "127.0.0.1", port, tmp_path / "a.log"):
            sign_in_as(DESKTOP)  # the first ever: nothing mailed
            took = sign_in_as(PHONE)
            assert took < 1.5, f"the sign-in took {took:.2f} s"
            message = inbox.wait_for(1, timeout=20)
            assert message["Subject"] == f"New sign-in to 127.0.0.1:{port}"
            assert "a new kind of device (mobile)" in body_of(message)
            assert len(inbox.messages) == 1
    finally:
        controller.stop()
