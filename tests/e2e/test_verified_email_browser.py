"""Verified emails in Chromium: every site of the demo requires verified addresses and
verifies them itself (``SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self``); the demo's login
does not vouch for its addresses, so a sign-in on A shows B's and then C's code page
during the chain. Codes are read from a real local SMTP server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.passwords import hash_password
from tests.cli import run_cli
from tests.constants import ALICE, BOB
from tests.e2e.browser import settle
from tests.e2e.harness import OUTPUT, Demo, require_chromium, run_demo
from tests.mailbox import Inbox, code_of, local_smtp


@pytest.fixture(scope="module")
def mail() -> Iterator[tuple[str, Inbox]]:
    with local_smtp() as server:
        yield server


@pytest.fixture(scope="module")
def verifying_demo(tmp_path_factory: pytest.TempPathFactory, mail: tuple[str, Inbox]) -> Iterator[Demo]:
    require_chromium()
    url, _ = mail
    settings = {
        "SESSIONSYNC_REQUIRE_VERIFIED_EMAIL": "self",
        "SESSIONSYNC_SMTP_URL": url,
        "SESSIONSYNC_MAIL_FROM": "Demo <no-reply@demo.localhost>",
    }
    with run_demo(tmp_path_factory.mktemp("verify"), mode="bounce", settings=settings) as running:
        yield running


def verify_page(demo: Demo, site: str) -> re.Pattern[str]:
    return re.compile(re.escape(demo.url(site, "/_sessionsync/verify")) + r"(\?.*)?$")


def test_sign_in_on_a_asks_b_and_c_for_a_code_and_then_signs_in_everywhere(
    verifying_demo: Demo, mail: tuple[str, Inbox], open_browser: Callable[..., Any]
) -> None:
    demo, (_, inbox) = verifying_demo, mail
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    page.goto(demo.url("a", "/account"))
    page.fill("input[name=email]", ALICE[0])
    page.fill("input[name=password]", ALICE[1])
    page.click("button[type=submit]")

    page.wait_for_url(verify_page(demo, "b"))
    assert page.locator("h1").inner_text() == "Enter your code"
    code_b = code_of(inbox.wait_for(1))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "verify-code-page-b.png"))
    # A wrong code first: the page says so and keeps the form.
    page.fill("input[name=code]", f"{(int(code_b) + 1) % 1_000_000:06d}")
    page.click("button[value=verify]")
    assert page.locator("h1").inner_text() == "That code is not right"
    page.fill("input[name=code]", code_b)
    page.click("button[value=verify]")

    # On to C, which asks too (its own code), then back to the page asked for on A.
    page.wait_for_url(verify_page(demo, "c"))
    code_c = code_of(inbox.wait_for(2))
    page.fill("input[name=code]", code_c)
    page.click("button[value=verify]")
    page.wait_for_url(demo.url("a", "/account"))

    expected = dict.fromkeys("abc", ALICE[0])
    assert settle(context, demo, expected) == expected
    log = Path(demo.log).read_text()
    assert code_b not in log and code_c not in log
    assert [s.via for s in demo.sessions("b", ALICE[0])] == [f"hop from {demo.url('a', '')}, verified here"]


def test_a_code_bob_typed_for_a_sign_in_from_c_does_not_let_a_peers_fake_bob_into_b(
    verifying_demo: Demo, mail: tuple[str, Inbox], open_browser: Callable[..., Any], tmp_path: Path
) -> None:
    """Issue #20: the verification mark was kept for the address alone. Bob signs in on C
    (his own account) and verifies his address on A and B with codes; then someone makes an
    account "bob@example.com" on A (which does not verify addresses) and signs in there:
    B must ask that sign-in for a code, not let it into Bob's account."""
    demo, (_, inbox) = verifying_demo, mail
    bob = open_browser(third_party_cookies=True).new_page()
    bob.goto(demo.url("c", "/account"))
    bob.fill("input[name=email]", BOB[0])
    bob.fill("input[name=password]", BOB[1])
    before = len(inbox.messages)
    bob.click("button[type=submit]")
    for _peer in ("a", "b"):  # C's peers, each asks for its own code (in the chain's order)
        bob.wait_for_url(re.compile(r".*/_sessionsync/verify(\?.*)?$"))
        before += 1
        bob.fill("input[name=code]", code_of(inbox.wait_for(before)))
        bob.click("button[value=verify]")
    bob.wait_for_url(demo.url("c", "/account"))
    assert any("verified here" in s.via for s in demo.sessions("b", BOB[0]))

    # "Signs up" on A as Bob: an account of A's own with the attacker's password.
    assert demo.data_dir is not None
    line = json.dumps({"email": BOB[0], "name": "Not Bob", "password_hash": hash_password("attacker-pw")})
    accounts = tmp_path / "fake-bob.jsonl"
    accounts.write_text(line + "\n")
    env = {
        "SESSIONSYNC_SITE_URL": demo.url("a", ""),
        "SESSIONSYNC_SECRET_KEYS": (demo.data_dir / "network-secret").read_text().strip(),
        "SESSIONSYNC_STORE": f"sqlite:///{demo.data_dir / 'site-a.sqlite3'}",
    }
    imported = run_cli("users", "import", str(accounts), "--update", env=env)
    assert imported.returncode == 0, imported.stderr

    attacker = open_browser(third_party_cookies=True).new_page()
    attacker.goto(demo.url("a", "/account"))
    attacker.fill("input[name=email]", BOB[0])
    attacker.fill("input[name=password]", "attacker-pw")
    attacker.click("button[type=submit]")
    attacker.wait_for_url(verify_page(demo, "b"))  # B asks for a code it cannot have
    OUTPUT.mkdir(parents=True, exist_ok=True)
    attacker.screenshot(path=str(OUTPUT / "verify-fake-bob-from-a-asked-on-b.png"))
    from_a = [s for s in demo.sessions("b", BOB[0]) if s.via == f"hop from {demo.url('a', '')}"]
    assert from_a == []  # no session on B that A's unverified word made
