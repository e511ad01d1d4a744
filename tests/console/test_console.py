"""The operator's console in process (#25): who may open it, the POST checks, each page,
the actions (through the sign-out and user-sync paths, so the peers are told), paging by
cursor, and each user's own page and API. The browser cases are in
``tests/e2e/test_browser_console.py``."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asgi_sessionsync.stores import ActivityFilter, Direction, SessionRecord, User, new_id
from asgi_sessionsync.testing import Browser, SiteNetwork
from tests.console.kit import ACCOUNT, ADMIN, CONSOLE, console_sites, csrf_of, make_admin, my_sessions, sids_on
from tests.constants import ALICE
from tests.sites import URLS

PAGES = ("sessions", "users", "network", "analytics", "activity", "policy")


@pytest.fixture(params=["sqlite", "memory"])
async def net(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SiteNetwork]:
    async with console_sites(tmp_path if request.param == "sqlite" else None, admitted={"b": {ALICE[0]}}) as made:
        yield made


@pytest.fixture
async def browser(net: SiteNetwork) -> AsyncIterator[Browser]:
    async with Browser(net.network) as made:
        yield made


def console(site: str, path: str = "sessions") -> str:
    return f"{URLS[site]}{CONSOLE}{path}"


# -- who may open it --------------------------------------------------------------------


async def test_nobody_signed_in_is_refused_every_page(net: SiteNetwork, browser: Browser) -> None:
    for path in PAGES:
        answer = await browser.get(console("a", path))
        assert answer.status_code == 401, path
        assert "Sign in" in answer.text and "Traceback" not in answer.text
    assert (await browser.get(URLS["a"] + ACCOUNT)).status_code == 401


async def test_a_user_who_is_not_privileged_here_is_refused(net: SiteNetwork, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    for path in PAGES:
        answer = await browser.get(console("a", path))
        assert answer.status_code == 403, path
        assert ALICE[0] not in answer.text or "may not open" in answer.text
    # The user's own page is for every signed-in user.
    assert (await browser.get(URLS["a"] + ACCOUNT)).status_code == 200


async def test_a_privileged_role_here_opens_every_page_with_the_strict_headers(
    net: SiteNetwork, browser: Browser
) -> None:
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    for path in PAGES:
        answer = await browser.get(console("a", path))
        assert answer.status_code == 200, (path, answer.text[:3000])
        csp = answer.headers["content-security-policy"]
        nonce = re.search(r"style-src 'nonce-([^']+)'", csp)
        assert nonce and f"script-src 'nonce-{nonce.group(1)}'" in csp
        assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
        assert f'<style nonce="{nonce.group(1)}">' in answer.text
        # Nothing from anywhere else: no script, no stylesheet link, no off-site resource.
        assert "<script" not in answer.text and "<link" not in answer.text
        assert not re.search(r'(src|href)="(https?:)?//', answer.text), path
    # A page without its slash, and the console's root, lead to the sessions.
    root = await browser.get(f"{URLS['a']}/_sessionsync/console")
    assert root.status_code == 200 and str(root.url).endswith("/console/sessions")


async def test_the_apps_own_check_admits_and_a_session_a_peer_made_is_refused(
    net: SiteNetwork, browser: Browser
) -> None:
    """B's app admits alice (``admit``), but her session on B came from A by a hop, and
    A is not trusted for privileged sign-ins on B: refused, saying why."""
    await browser.sign_in("a", *ALICE)
    assert await browser.who("b") == ALICE[0]
    answer = await browser.get(f"{URLS['b']}/admin/sessions")
    assert answer.status_code == 403
    assert URLS["a"] in answer.text and "not trusted for privileged sign-ins" in answer.text
    # On A, the same check (mounted by the app at /admin) admits nobody but whom it names.
    assert (await browser.get(f"{URLS['a']}/admin/sessions")).status_code == 403


async def test_a_peer_trusted_for_privileged_sign_ins_may_bring_an_operator(tmp_path: Path) -> None:
    async with (
        console_sites(None, admitted={"b": {ALICE[0]}}, trusted_for_privileged=[URLS["a"]]) as net,
        Browser(net.network) as browser,
    ):
        await browser.sign_in("a", *ALICE)
        assert await browser.who("b") == ALICE[0]
        answer = await browser.get(f"{URLS['b']}/admin/sessions")
        assert answer.status_code == 200 and "Sessions" in answer.text


async def test_the_console_can_be_turned_off(tmp_path: Path) -> None:
    async with console_sites(None, serve_console="false") as net, Browser(net.network) as browser:
        await browser.sign_in("a", *ALICE)
        await make_admin(net, "a", ALICE[0])
        assert (await browser.get(console("a"))).status_code == 404
        assert (await browser.get(URLS["a"] + ACCOUNT)).status_code == 404


# -- the POST checks ----------------------------------------------------------------------


async def test_a_post_without_the_token_from_another_origin_or_cross_site_changes_nothing(
    net: SiteNetwork, browser: Browser
) -> None:
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    page = await browser.get(console("a"))
    token, sid = csrf_of(page), sids_on(page)[0]
    target = console("a", "sessions/end")
    same = {"origin": URLS["a"], "sec-fetch-site": "same-origin", "content-type": "application/x-www-form-urlencoded"}
    tries = {
        "no token": ({"sid": sid}, same),
        "wrong token": ({"sid": sid, "csrf": token[:-2] + "xx"}, same),
        "another origin": ({"sid": sid, "csrf": token}, {**same, "origin": "https://evil.example"}),
        "cross-site": ({"sid": sid, "csrf": token}, {**same, "sec-fetch-site": "cross-site"}),
        "same-site sibling": ({"sid": sid, "csrf": token}, {**same, "sec-fetch-site": "same-site"}),
        "neither header": ({"sid": sid, "csrf": token}, {"content-type": "application/x-www-form-urlencoded"}),
    }
    for name, (data, headers) in tries.items():
        answer = await browser.client.post(target, data=data, headers=headers, follow_redirects=False)
        # Refused: by the checks (403), or, cross-site, as a request whose cookies say nothing (401).
        assert answer.status_code == (401 if name == "cross-site" else 403), name
        assert "nothing was changed" in answer.text or name == "cross-site", name
    assert await browser.who("a") == ALICE[0]
    # Another session's token is not this one's.
    async with Browser(net.network) as other:
        await other.sign_in("a", *ALICE)
        theirs = csrf_of(await other.get(console("a")))
    assert theirs != token
    answer = await browser.client.post(target, data={"sid": sid, "csrf": theirs}, headers=same, follow_redirects=False)
    assert answer.status_code == 403
    assert await browser.who("a") == ALICE[0]


# -- the actions ---------------------------------------------------------------------------


async def test_ending_another_browsers_session_signs_it_out_on_every_site(net: SiteNetwork, browser: Browser) -> None:
    async with Browser(net.network) as victim:
        await victim.sign_in("a", *ALICE)
        assert await victim.everyone() == dict.fromkeys("abc", ALICE[0])
        await browser.sign_in("a", *ALICE)
        await make_admin(net, "a", ALICE[0])
        mine = {s["id"] for s in await my_sessions(browser, "a") if s["current"]}
        page = await browser.get(console("a", f"sessions?user={ALICE[0]}&state=active"))
        theirs = [sid for sid in sids_on(page) if sid not in mine]
        assert len(theirs) == 1
        ended = await browser.submit(
            console("a", "sessions/end"), {"sid": theirs[0], "csrf": csrf_of(page)}, from_page=page
        )
        assert ended.status_code == 200 and "Session ended here" in ended.text
        assert await victim.everyone() == {"a": None, "b": None, "c": None}
        assert await browser.who("a") == ALICE[0]  # the operator's own browser stays signed in
    log = net.sites["a"].site.stores.activity
    assert log is not None
    entries = await log.list(ActivityFilter(direction=Direction.LOCAL))
    assert [(e.kind, e.actor, e.user) for e in entries] == [("console.end-session", ALICE[0], ALICE[0])]


async def test_ending_every_session_of_a_user_reaches_every_site(net: SiteNetwork, browser: Browser) -> None:
    async with Browser(net.network) as laptop, Browser(net.network) as phone:
        await laptop.sign_in("a", *ALICE)
        await phone.sign_in("a", *ALICE)
        await browser.sign_in("a", *ADMIN)
        await make_admin(net, "a", ADMIN[0])
        page = await browser.get(console("a", f"users/view?email={ALICE[0]}"))
        assert "End every session of" in page.text
        done = await browser.submit(
            console("a", "sessions/end-user"), {"email": ALICE[0], "csrf": csrf_of(page)}, from_page=page
        )
        assert "Every session of the user ended here (2)" in done.text
        for who in (laptop, phone):
            assert await who.everyone() == {"a": None, "b": None, "c": None}
        assert await browser.who("a") == ADMIN[0]


async def test_a_role_changed_from_the_console_goes_through_user_sync(net: SiteNetwork, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    page = await browser.get(console("a", f"users/view?email={ALICE[0]}"))
    assert "sync versions" in page.text and "admin (privileged here)" in page.text
    done = await browser.submit(
        console("a", "users/meta"),
        {"email": ALICE[0], "key": "team", "value": "blue", "csrf": csrf_of(page)},
        from_page=page,
    )
    assert "Metadata changed" in done.text
    user = await net.sites["a"].site.stores.users.get(ALICE[0])
    assert user is not None and user.meta.get("team") == "blue" and "meta:team" in user.versions
    log = net.sites["a"].site.stores.activity
    assert log is not None
    entries = await log.list(ActivityFilter(actor=ALICE[0]))
    assert entries[0].kind == "console.user-meta" and entries[0].direction is Direction.LOCAL


async def test_an_address_marked_verified_not_verified_and_revoked_from_the_users_page(
    net: SiteNetwork, browser: Browser
) -> None:
    """Issue #26: the console marks an address verified or not, per issuer, and revokes
    marks, through ``site.verified``; each action is in the activity log with its actor."""
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    site = net.sites["a"].site
    page = await browser.get(console("a", f"users/view?email={ALICE[0]}"))
    assert "no mark" in page.text and f'value="{URLS["b"]}"' in page.text  # issuers: here and each peer
    token = csrf_of(page)

    done = await browser.submit(
        console("a", "users/verify"),
        {"email": ALICE[0], "issuer": URLS["a"], "state": "not-verified", "csrf": token},
        from_page=page,
    )
    assert "Verification mark set" in done.text and "marked not verified" in done.text
    assert await site.verified.verdict(ALICE[0], URLS["a"]) is False
    done = await browser.submit(
        console("a", "users/verify"),
        {"email": ALICE[0], "issuer": URLS["b"], "state": "verified", "csrf": token},
        from_page=done,
    )
    assert await site.verified.verdict(ALICE[0], URLS["b"]) is True
    marks = {(m.issuer, m.verified, str(m.by)) for m in await site.verified.register.list(ALICE[0])}
    assert marks == {(URLS["a"], False, "operator"), (URLS["b"], True, "operator")}

    # An issuer that is neither this site nor a peer is refused; so is a post without the token.
    refused = await browser.submit(
        console("a", "users/verify"),
        {"email": ALICE[0], "issuer": "https://evil.example", "state": "verified", "csrf": token},
        from_page=done,
    )
    assert refused.status_code == 400 and await site.verified.verdict(ALICE[0], "https://evil.example") is None
    same = {"origin": URLS["a"], "sec-fetch-site": "same-origin", "content-type": "application/x-www-form-urlencoded"}
    forged = await browser.client.post(
        console("a", "users/revoke-verified"), data={"email": ALICE[0]}, headers=same, follow_redirects=False
    )
    assert forged.status_code == 403 and await site.verified.verdict(ALICE[0], URLS["b"]) is True

    done = await browser.submit(
        console("a", "users/revoke-verified"), {"email": ALICE[0], "issuer": URLS["b"], "csrf": token}, from_page=done
    )
    assert "1 verification mark(s) revoked" in done.text
    assert await site.verified.verdict(ALICE[0], URLS["b"]) is None
    assert await site.verified.verdict(ALICE[0], URLS["a"]) is False
    done = await browser.submit(
        console("a", "users/revoke-verified"), {"email": ALICE[0], "issuer": "", "csrf": token}, from_page=done
    )
    assert await site.verified.verdict(ALICE[0], URLS["a"]) is None and "no mark" in done.text

    log = site.stores.activity
    assert log is not None
    entries = await log.list(ActivityFilter(actor=ALICE[0]))
    said = [(e.kind, e.peer, e.reason.split(",")[0]) for e in reversed(entries) if e.kind.startswith("verify.")]
    assert said == [
        ("verify.mark", URLS["a"], "not verified"),
        ("verify.mark", URLS["b"], "verified"),
        ("verify.revoke", URLS["b"], "1 mark(s) revoked"),
        ("verify.revoke", "", "1 mark(s) revoked (every issuer)"),
    ]
    assert all(e.direction is Direction.LOCAL for e in entries)


async def test_import_reports_each_refused_line_and_export_gives_the_users(net: SiteNetwork, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    page = await browser.get(console("a", "users"))
    lines = (
        b'{"email": "carol@example.com", "name": "Carol"}\nnot json\n{"email": "dave@example.com"}\n{"email": "x"}\n'
    )
    answer = await browser.client.post(
        console("a", "users/import"),
        data={"csrf": csrf_of(page)},
        files={"file": ("users.jsonl", lines, "application/x-ndjson")},
        headers={"origin": URLS["a"], "sec-fetch-site": "same-origin"},
    )
    assert answer.status_code == 200, answer.text[:2000]
    cells = re.findall(r"<td>([^<]*)</td>", answer.text)
    assert cells[:5] == ["4", "2", "0", "0", "2"]
    assert re.search(r"<td>2</td><td>[^<]+</td>", answer.text) and re.search(r"<td>4</td><td>[^<]+</td>", answer.text)
    assert await net.sites["a"].site.stores.users.get("carol@example.com") is not None
    export = await browser.get(console("a", "users/export"))
    assert export.headers["content-disposition"].startswith("attachment")
    emails = sorted(re.findall(r'"email": "([^"]+)"', export.text))
    assert emails == ["alice@example.com", "carol@example.com", "dave@example.com"]
    assert "password_hash" not in export.text
    found = await browser.get(console("a", "users?q=car"))
    assert "carol@example.com" in found.text and "dave@example.com" not in found.text


async def test_the_activity_log_filters_and_downloads(net: SiteNetwork, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    page = await browser.get(console("a", "activity?kind=login&peer=" + URLS["b"]))
    assert "login" in page.text and URLS["b"] in page.text
    csv = await browser.get(console("a", "activity.csv?kind=login"))
    rows = csv.text.strip().splitlines()
    assert rows[0].startswith("at,site,direction,peer,kind") and len(rows) >= 2
    assert all(",login," in row for row in rows[1:])
    json_lines = await browser.get(console("a", "activity.json?outcome=refused"))
    assert json_lines.status_code == 200


async def test_the_analytics_page_shows_login_success_spam_accounts_and_user_changes(
    net: SiteNetwork, browser: Browser
) -> None:
    await browser.sign_in("a", ALICE[0], "not her password")  # the reference app reports it (#26)
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])  # a role change made here: a user change
    page = (await browser.get(console("a", "analytics?since=1d"))).text
    for shown in ("login success", "failed logins", "spam sessions", "accounts created", "password resets"):
        assert f"<span>{shown}</span>" in page, shown
    assert "<b>50%</b><span>login success</span>" in page  # one login here of two attempts
    assert "Users by role" in page and "User changes" in page and "Traceback" not in page


# -- paging by cursor ------------------------------------------------------------------------


async def test_sessions_page_by_cursor_without_repeats_or_gaps(net: SiteNetwork, browser: Browser) -> None:
    await browser.sign_in("a", *ALICE)
    await make_admin(net, "a", ALICE[0])
    store = net.sites["a"].site.stores.sessions
    now = time.time()
    made = set()
    for i in range(130):
        sid = new_id()
        made.add(sid)
        await store.create(
            SessionRecord(sid, "many@example.com", new_id(), URLS["a"], "10.0.0.1", "ua", now - i, now - i)
        )
    seen: list[str] = []
    url = console("a", "sessions?user=many@example.com")
    pages = 0
    while url:
        page = await browser.get(url)
        pages += 1
        seen += sids_on(page)
        more = re.search(r'href="([^"]+)">Next page', page.text)
        url = URLS["a"] + more.group(1).replace("&amp;", "&") if more else ""
        assert "offset" not in url
    assert pages == 3 and len(seen) == 130 and set(seen) == made


# -- the user's own page and API ---------------------------------------------------------------


async def test_a_user_ends_their_other_session_from_their_own_page(net: SiteNetwork, browser: Browser) -> None:
    async with Browser(net.network) as phone:
        await phone.sign_in("a", *ALICE)
        await browser.sign_in("a", *ALICE)
        page = await browser.get(URLS["a"] + ACCOUNT)
        assert page.headers["x-frame-options"] == "DENY"
        assert "this browser" in page.text and page.text.count('name="id"') == 1
        other = re.search(r'name="id" value="([^"]+)"', page.text)
        assert other
        done = await browser.submit(
            URLS["a"] + ACCOUNT + "/end", {"id": other.group(1), "csrf": csrf_of(page)}, from_page=page
        )
        assert "Session ended here" in done.text
        assert await phone.everyone() == {"a": None, "b": None, "c": None}
        assert await browser.who("a") == ALICE[0]


async def test_a_user_may_end_only_their_own_sessions(net: SiteNetwork, browser: Browser) -> None:
    async with Browser(net.network) as second:
        await net.sites["a"].site.stores.users.create(User("carol@example.com", "member"))
        await browser.sign_in("a", *ALICE)
        await second.sign_in("a", *ALICE)  # a second browser of alice's
        theirs = next(s["id"] for s in await my_sessions(second, "a") if s["current"])
        # A session of another user (carol), made in the store.
        stranger = new_id()
        await net.sites["a"].site.stores.sessions.create(
            SessionRecord(
                stranger, "carol@example.com", new_id(), URLS["a"], "10.0.0.2", "ua", time.time(), time.time()
            )
        )
        page = await browser.get(URLS["a"] + ACCOUNT)
        done = await browser.submit(
            URLS["a"] + ACCOUNT + "/end", {"id": stranger, "csrf": csrf_of(page)}, from_page=page
        )
        assert "Nothing was changed" in done.text
        record = await net.sites["a"].site.stores.sessions.get(stranger)
        assert record is not None and record.ended_at is None
        # The API: the same rule.
        answer = await browser.submit(f"{URLS['a']}/my-sessions/end?id={stranger}", {})
        assert answer.json() == {"ended": False}
        answer = await browser.submit(f"{URLS['a']}/my-sessions/end?id={theirs}", {})
        assert answer.json() == {"ended": True}
        assert await second.who("a") is None


async def test_sign_out_all_other_sessions(net: SiteNetwork, browser: Browser) -> None:
    async with Browser(net.network) as one, Browser(net.network) as two:
        for b in (one, two, browser):
            await b.sign_in("a", *ALICE)
        assert len(await my_sessions(browser, "a")) == 3
        page = await browser.get(URLS["a"] + ACCOUNT)
        done = await browser.submit(URLS["a"] + ACCOUNT + "/end-others", {"csrf": csrf_of(page)}, from_page=page)
        assert "Your other sessions ended (2)" in done.text
        assert await one.who("b") is None and await two.who("a") is None
        assert [s["current"] for s in await my_sessions(browser, "a")] == [True]
