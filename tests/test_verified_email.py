"""Verified emails (issue #14): SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=issuer and self.

Two in-process sites: A, where the app signs users in and says whether it verified the
address (``sign_in(..., email_verified=...)``), and B, which requires verified addresses.
Codes go through a real SMTP server (aiosmtpd, on a free local port) and are read back
from the messages it received.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync import SessionSyncMiddleware, sign_in
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.mail import MailError, SMTPMailer
from asgi_sessionsync.protocol import HopPayload, Mode, SessionPayload
from asgi_sessionsync.testing import SiteNetwork, hidden_fields
from asgi_sessionsync.testing_apps import login_app
from tests.harness.processes import free_ports
from tests.mailbox import Inbox, local_smtp

USER = "ann@example.com"
A, B = "https://a.example", "https://b.example"
VERIFY = f"{B}/_sessionsync/verify"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    with local_smtp() as server:
        yield server


class Clock:
    """Site B's clock, which a test can move on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def issuer_app() -> Starlette:
    """Site A: ``/login?email=…&verified=1`` signs in (the app vouches for the address)."""

    async def login(request: Request) -> Response:
        verified = request.query_params.get("verified") == "1"
        sign_in(request, request.query_params["email"], email_verified=verified)
        return RedirectResponse("/", status_code=303)

    async def home(request: Request) -> Response:
        user = request.user
        text = f"Signed in as {user.email}</h1>" if user.is_authenticated else "Not signed in</h1>"
        return HTMLResponse(f"<!doctype html><html><body><h1>{text}</body></html>")

    return Starlette(routes=[Route("/", home), Route("/login", login)])


def network(mode: str, *, smtp_url: str | None = None, clock: Clock | None = None, **more: Any) -> SiteNetwork:
    on_b: dict[str, Any] = {"require_verified_email": mode}
    if smtp_url is not None:
        on_b.update(smtp_url=smtp_url, mail_from="B <no-reply@b.example>")
    if clock is not None:
        on_b["clock"] = clock
    return SiteNetwork(
        {"a": issuer_app(), "b": login_app("b")},
        settings={"catchup": False, **more},
        site_settings={"b": on_b},
    )


async def sign_in_on_a(net: SiteNetwork, *, verified: bool, browser: Any = None) -> tuple[Any, httpx.Response]:
    browser = browser or net.browser()
    response = await browser.get(f"{A}/login", params={"email": USER, "verified": "1" if verified else "0"})
    return browser, response


async def post(browser: Any, page: httpx.Response, action: str, code: str = "") -> httpx.Response:
    fields = {**hidden_fields(page), "do": action}
    if code:
        fields["code"] = code
    response: httpx.Response = await browser.submit(VERIFY, fields, from_page=str(page.url))
    return response


# -- the wire ------------------------------------------------------------------------------


def test_ev_is_written_only_when_true_and_absent_reads_as_not_verified() -> None:
    hop = HopPayload(b"b" * 16, "chain", "Ann", None, None, Mode.PAGE)
    assert "ev" not in hop.to_wire()
    assert HopPayload.from_wire(hop.to_wire()) == hop
    vouched = hop._replace(email_verified=True)
    assert vouched.to_wire()["ev"] is True
    assert HopPayload.from_wire(vouched.to_wire()) == vouched
    assert HopPayload.from_wire({**vouched.to_wire(), "ev": 1}) == hop  # only a true boolean
    session = SessionPayload("sid", "chain", "Ann", "member")
    assert "ev" not in session.to_wire()
    assert SessionPayload.from_wire({**session.to_wire(), "ev": True}) == session._replace(email_verified=True)


# -- issuer --------------------------------------------------------------------------------


async def test_issuer_mode_refuses_an_unverified_address_and_the_chain_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_sessionsync")
    async with network("issuer") as net:
        browser, response = await sign_in_on_a(net, verified=False)
        assert str(response.url) == f"{A}/"  # back where the sign-in began
        assert await browser.who("b") is None
        assert await net.sites["b"].site.stores.users.get(USER) is None  # nobody provisioned either
        assert "did not say the address is verified" in caplog.text


async def test_issuer_mode_accepts_an_address_the_issuer_verified() -> None:
    async with network("issuer") as net:
        browser, _ = await sign_in_on_a(net, verified=True)
        assert await browser.who("b") == USER


async def test_a_site_vouches_for_a_verified_address_as_it_arrived() -> None:
    # C requires verification; B got the user from A with ev and passes it on (catch-up).
    apps = {"a": issuer_app(), "b": login_app("b"), "c": login_app("c")}
    async with SiteNetwork(apps, site_settings={"c": {"require_verified_email": "issuer"}}) as net:
        browser = net.browser()
        await browser.get(f"{A}/login", params={"email": USER, "verified": "1"})
        assert await browser.everyone() == {"a": USER, "b": USER, "c": USER}
        (record,) = await net.sites["c"].site.stores.sessions.list(user=USER)
        assert record.via.startswith("hop from")


# -- self ----------------------------------------------------------------------------------


async def test_self_mode_mails_a_code_and_the_right_code_signs_in_on_b(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with network("self", smtp_url=url) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        assert str(page.url) == VERIFY and page.status_code == 200, page.text
        assert "We sent a 6-digit code" in page.text and USER in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        held = next(c for c in browser.cookies if c.name == net.sites["b"].cookie_names.held)
        assert held.http_only and held.samesite == "lax"
        (message,) = inbox.messages
        assert message["To"] == USER and message["From"] == "B <no-reply@b.example>"
        assert await net.sites["b"].site.stores.users.get(USER) is None  # held: nobody made yet

        done = await post(browser, page, "verify", inbox.last_code())
        assert str(done.url) == f"{A}/"  # where the hop would have sent the browser
        assert await browser.who("b") == USER
        assert not any(c.name == net.sites["b"].cookie_names.held for c in browser.cookies)
        (record,) = await net.sites["b"].site.stores.sessions.list(user=USER)
        assert record.via == f"hop from {A}, verified here"

        # Remembered: the next sign-in of that address is not asked again.
        other, _ = await sign_in_on_a(net, verified=False)
        assert await other.who("b") == USER
        assert len(inbox.messages) == 1


async def test_self_mode_accepts_an_address_the_issuer_verified_without_a_code(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with network("self", smtp_url=url) as net:
        browser, _ = await sign_in_on_a(net, verified=True)
        assert await browser.who("b") == USER
        assert inbox.messages == []


async def test_an_address_this_sites_own_app_verified_still_needs_a_code_from_a_peer(
    smtp: tuple[str, Inbox],
) -> None:
    # Issue #20: the mark was kept for the address alone, so whoever signed up as Ann on a
    # peer that does not verify walked into her account here. B's own app vouching for
    # Ann says nothing of the "Ann" a peer signs in.
    url, inbox = smtp
    on_b = {"require_verified_email": "self", "smtp_url": url, "mail_from": "no-reply@b.example"}
    apps = {"a": issuer_app(), "b": issuer_app()}
    async with SiteNetwork(apps, settings={"catchup": False}, site_settings={"b": on_b}) as net:
        first = net.browser()
        await first.get(f"{B}/login", params={"email": USER, "verified": "1"})  # B's own login
        assert await first.who("b") == USER
        attacker = net.browser(ip="198.51.100.20")
        page = await attacker.get(f"{A}/login", params={"email": USER, "verified": "0"})
        assert str(page.url) == VERIFY and "We sent a 6-digit code" in page.text
        assert len(await net.sites["b"].site.stores.sessions.list(user=USER)) == 1  # the first browser's only
        assert [m["To"] for m in inbox.messages] == [USER]  # the code went to Ann's mailbox


async def test_a_code_typed_for_one_peers_sign_in_does_not_open_the_address_to_another_peer(
    smtp: tuple[str, Inbox],
) -> None:
    # Carol signs in on A and verifies her address on B with a code; then someone signs up
    # as Carol on C, which does not verify addresses: B asks that sign-in for a code too.
    url, inbox = smtp
    on_b = {"require_verified_email": "self", "smtp_url": url, "mail_from": "no-reply@b.example"}
    apps = {"a": issuer_app(), "b": login_app("b"), "c": issuer_app()}
    async with SiteNetwork(apps, settings={"catchup": False}, site_settings={"b": on_b}) as net:
        carol = net.browser()
        page = await carol.get(f"{A}/login", params={"email": USER, "verified": "0"})
        assert str(page.url) == VERIFY
        await post(carol, page, "verify", inbox.last_code())
        assert await carol.who("b") == USER
        # Remembered for sign-ins from A: her next one from A is not asked again ...
        again = net.browser(ip="198.51.100.30")
        await again.get(f"{A}/login", params={"email": USER, "verified": "0"})
        assert await again.who("b") == USER and len(inbox.messages) == 1
        # ... but the "Carol" that C signs in is.
        attacker = net.browser(ip="198.51.100.20")
        page = await attacker.get(f"{net.urls['c']}/login", params={"email": USER, "verified": "0"})
        # The code page (here "Please wait": a code went to Carol's mailbox moments ago).
        assert str(page.url).startswith(VERIFY) and "Address: <strong>ann@example.com" in page.text
        sessions = await net.sites["b"].site.stores.sessions.list(user=USER)
        assert "198.51.100.20" not in {r.ip for r in sessions} and len(sessions) == 2  # Carol's two only


async def test_issuer_mode_refuses_a_peers_unverified_sign_in_of_an_address_verified_here() -> None:
    async with SiteNetwork(
        {"a": issuer_app(), "b": issuer_app()},
        settings={"catchup": False},
        site_settings={"b": {"require_verified_email": "issuer"}},
    ) as net:
        await net.browser().get(f"{B}/login", params={"email": USER, "verified": "1"})
        attacker = net.browser(ip="198.51.100.20")
        await attacker.get(f"{A}/login", params={"email": USER, "verified": "0"})
        assert await attacker.who("b") is None


async def test_a_wrong_code_is_refused_and_five_tries_use_a_code_up(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with network("self", smtp_url=url) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        right = inbox.last_code()
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        for _ in range(5):
            answer = await post(browser, page, "verify", wrong)
            assert answer.status_code == 400 and "That code is not right" in answer.text
        answer = await post(browser, page, "verify", right)
        assert answer.status_code == 429 and "Too many tries" in answer.text
        assert await net.sites["b"].site.stores.sessions.list(user=USER) == []
        # Not a code at all: said so, and no try is spent on it.
        answer = await post(browser, page, "verify", "12ab")
        assert answer.status_code == 400 and "6 digits" in answer.text


async def test_an_expired_code_is_refused_with_a_clear_page(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    clock = Clock()
    async with network("self", smtp_url=url, clock=clock) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        clock.offset = 16 * 60
        answer = await post(browser, page, "verify", inbox.last_code())
        assert answer.status_code == 400 and "This code has expired" in answer.text
        assert "Send a new code" in answer.text
        assert await net.sites["b"].site.stores.sessions.list(user=USER) == []
        again = await browser.get(VERIFY)  # coming back to the page says so too
        assert "This code has expired" in again.text and 'name="code"' not in again.text


async def test_resend_is_rate_limited(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    clock = Clock()
    async with network("self", smtp_url=url, clock=clock) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        answer = await post(browser, page, "resend")
        assert answer.status_code == 429 and "moments ago" in answer.text
        # The limit is the server's too, not only the cookie's idea of when it was sent.
        clock.offset = 31
        answer = await post(browser, page, "resend")
        assert answer.status_code == 429 and "Wait half a minute" in answer.text
        assert len(inbox.messages) == 1


async def test_a_mailer_that_fails_shows_a_clear_page_and_loses_nothing(
    smtp: tuple[str, Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    url, inbox = smtp
    (closed,) = free_ports(1)
    caplog.set_level(logging.INFO, logger="asgi_sessionsync")
    async with network("self", smtp_url=f"smtp://127.0.0.1:{closed}", smtp_timeout="2s") as net:
        browser, page = await sign_in_on_a(net, verified=False)
        assert str(page.url) == VERIFY
        assert page.status_code == 503 and "The code could not be sent" in page.text
        assert "Traceback" not in page.text
        assert "could not be sent: MailError" in caplog.text
        # The mail server is back: the same hold gets its code.
        net.sites["b"].site.mailer = SMTPMailer(url)
        page = await post(browser, page, "resend")
        assert page.status_code == 200 and "We sent a 6-digit code to this address again" in page.text
        done = await post(browser, page, "verify", inbox.last_code())
        assert done.status_code == 200
        assert await browser.who("b") == USER


async def test_codes_never_reach_the_logs(smtp: tuple[str, Inbox], caplog: pytest.LogCaptureFixture) -> None:
    url, inbox = smtp
    caplog.set_level(logging.DEBUG)
    async with network("self", smtp_url=url) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        code = inbox.last_code()
        await post(browser, page, "verify", f"{(int(code) + 7) % 1_000_000:06d}")
        await post(browser, page, "verify", code)
        assert await browser.who("b") == USER
    # Ours and the SMTP client's (the test's mail server, "mail.log", logs what it receives).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "held" in ours and "verified here" in ours
    assert code not in ours


async def test_skip_goes_on_without_signing_in_here(smtp: tuple[str, Inbox]) -> None:
    url, _ = smtp
    async with network("self", smtp_url=url) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        answer = await post(browser, page, "skip")
        assert str(answer.url) == f"{A}/"
        assert await browser.who("b") is None  # and no code page any more


async def test_a_form_post_from_another_site_or_without_the_token_is_refused(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with network("self", smtp_url=url) as net:
        browser, page = await sign_in_on_a(net, verified=False)
        fields = {**hidden_fields(page), "do": "verify", "code": inbox.last_code()}
        answer = await browser.submit(VERIFY, {**fields, "t": "forged"}, from_page=str(page.url))
        assert answer.status_code == 403
        answer = await browser.submit(VERIFY, fields, from_page="https://evil.example/")
        assert answer.status_code == 403
        assert await net.sites["b"].site.stores.sessions.list(user=USER) == []


async def test_frame_mode_holds_in_the_frame_and_asks_at_the_next_visit(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with network("self", smtp_url=url, sync_mode="frame") as net:
        browser, page = await sign_in_on_a(net, verified=False)
        frames = [m.replace("&amp;", "&") for m in re.findall(r'<iframe src="([^"]+)"', page.text)]
        assert frames, page.text
        framed = await browser.frame(frames[0], from_page=f"{A}/")
        assert '"ok": false' in framed.text  # nobody is signed in by the hidden frame
        assert inbox.messages == []  # nothing is mailed from a frame nobody sees
        page = await browser.get(f"{B}/account")
        assert str(page.url).startswith(VERIFY) and len(inbox.messages) == 1
        done = await post(browser, page, "verify", inbox.last_code())
        assert str(done.url) == f"{B}/account"  # the page the visit was for
        assert "Account of ann@example.com" in done.text


async def test_self_mode_without_a_mailer_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="SESSIONSYNC_SMTP_URL"):
        network("self")


async def test_a_mailer_given_in_code_is_used() -> None:
    sent: list[EmailMessage] = []

    class Recorder:
        async def send(self, message: EmailMessage) -> None:
            sent.append(message)

    middleware = SessionSyncMiddleware(
        login_app("b"),
        site_url=B,
        secret_keys=[generate_secret()],
        peers=[A],
        store="memory://",
        require_verified_email="self",
        mailer=Recorder(),
        env_file=None,
    )
    assert isinstance(middleware.site.mailer, Recorder)
    await middleware.aclose()


async def test_the_smtp_mailer_says_what_failed_without_the_password() -> None:
    (closed,) = free_ports(1)
    mailer = SMTPMailer(f"smtp://user:s3cret-pass@127.0.0.1:{closed}", timeout=2)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@b.example", USER, "x"
    with pytest.raises(MailError) as failure:
        await mailer.send(message)
    assert "s3cret-pass" not in str(failure.value) and "127.0.0.1" in str(failure.value)
    assert "s3cret-pass" not in repr(mailer)


async def test_auto_mode_shows_the_code_page_when_it_bounces_through_the_peer(smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    async with network("self", smtp_url=url, sync_mode="auto") as net:
        browser, page = await sign_in_on_a(net, verified=False)
        frames = [m.replace("&amp;", "&") for m in re.findall(r'<iframe src="([^"]+)"', page.text)]
        framed = await browser.frame(frames[0], from_page=f"{A}/")
        assert '"ok": false' in framed.text and inbox.messages == []
        # The page's script bounces through the peer whose frame said "not signed in".
        match = re.search(r"location\.replace\((\".*?\")\+", page.text)
        assert match
        bounce = json.loads(match.group(1)) + "&peers=" + B
        code_page = await browser.get(bounce)
        assert str(code_page.url) == VERIFY and len(inbox.messages) == 1
        done = await post(browser, code_page, "verify", inbox.last_code())
        assert str(done.url) == f"{A}/"
        assert await browser.who("b") == USER


async def test_going_on_without_signing_in_is_remembered_for_the_catch_up_interval(smtp: tuple[str, Inbox]) -> None:
    """Issue #26: after "Continue without signing in here", the next visits of this site
    (each a first-visit catch-up) neither show the code page nor mail a code, for the
    catch-up interval; a new sign-in on the peer (the user's choice) asks again."""
    url, inbox = smtp
    async with network("self", smtp_url=url, catchup=True) as net:
        names = net.sites["b"].cookie_names
        browser, page = await sign_in_on_a(net, verified=False)
        assert len(inbox.messages) == 1
        answer = await post(browser, page, "skip")
        assert str(answer.url) == f"{A}/"
        declined = next(c for c in browser.cookies if c.name == names.declined)
        assert declined.http_only and declined.samesite == "lax"
        assert USER not in declined.value  # sealed: the address is not readable
        for _ in range(3):  # each visit a first-visit catch-up, which A answers with the sign-in
            visit = await browser.get(f"{B}/")
            assert str(visit.url) == f"{B}/" and "Not signed in" in visit.text, visit.text[:300]
            browser.cookies.delete(names.seen)  # the next visit catches up again
        assert len(inbox.messages) == 1
        assert not any(c.name == names.held for c in browser.cookies)

        # The user can still choose to sign in: a new sign-in on A asks again.
        _, page = await sign_in_on_a(net, verified=False, browser=browser)
        assert str(page.url) == VERIFY and USER in page.text, page.text[:300]
        assert any(c.name == names.held for c in browser.cookies)  # held again, a code a click away
        assert 'value="resend"' in page.text  # (the 30 s between two codes to one address still count)
        await post(browser, page, "skip")
        assert await browser.who("b") is None and len(inbox.messages) == 1


async def test_a_forged_declined_cookie_declines_nothing(smtp: tuple[str, Inbox]) -> None:
    url, _ = smtp
    async with network("self", smtp_url=url, catchup=True) as net:
        names = net.sites["b"].cookie_names
        browser, page = await sign_in_on_a(net, verified=False)
        await post(browser, page, "skip")
        value = next(c.value for c in browser.cookies if c.name == names.declined)
        forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BAAA")
        browser.cookies.set(names.declined, forged, domain="b.example", secure=True, http_only=True)
        visit = await browser.get(f"{B}/")
        assert str(visit.url).startswith(VERIFY)  # the catch-up's sign-in is held again
