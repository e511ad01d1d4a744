"""A password change ends the user's other sessions on every site, and no catch-up brings
one back (#22).

A password change (``set_password``, or Django's, see tests/frameworks) is the moment an
operator wants every other session of that user gone: it ends every session of the user
here and sends the chainless sign-out (as ``sessions revoke --user``); the browser that
changed it is signed in again (a new sign-in chain). A sign-in made before a sign-out
everywhere is void on every site: a peer's catch-up hop carrying such a session (a peer
that has not heard of the change, or may not end sessions) is refused.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import set_password
from tests.constants import ALICE

NEW_HASH = "scrypt$16384$8$1$c2FsdA$ZGlnZXN0"
URLS = {n: f"https://{n}.example" for n in "abc"}


def site_a() -> Any:
    """Site A with alice, and an account page that changes her password."""
    app = login_app("a", dict([ALICE]))

    async def change_password(request: Request) -> Response:
        await set_password(request, request.user.email, NEW_HASH)
        return PlainTextResponse("password changed")

    app.router.routes.append(Route("/password", change_password, methods=["POST"]))
    return app


def network(*, c_keeps_its_sessions: bool = False) -> SiteNetwork:
    """A, B, C; with ``c_keeps_its_sessions``, C takes no sign-out from A (its network
    file), so C keeps every session a sign-out from A would end: the stale peer."""
    site_settings: dict[str, Any] = {}
    if c_keeps_its_sessions:
        rules = NetworkRules.from_mapping({"peers": {URLS["a"]: {"logout": "off"}}})
        site_settings["c"] = {"network_rules": rules}
    apps = {"a": site_a(), "b": login_app("b"), "c": login_app("c")}
    return SiteNetwork(apps, urls=URLS, site_settings=site_settings)


def caught_up_nowhere_lately(browser: Any) -> None:
    """Forget when this browser was last caught up: its next page visit asks the peers."""
    browser.cookies.clear(name="__Host-sessionsync-seen")  # https sites: prefixed names


async def test_set_password_ends_every_other_session_everywhere_and_keeps_this_browser() -> None:
    async with network() as net:
        thief, owner = net.browser(), net.browser()
        await thief.sign_in("a", *ALICE)
        await owner.sign_in("a", *ALICE)
        assert await thief.everyone() == dict.fromkeys("abc", ALICE[0])

        page = await owner.get(f"{URLS['a']}/")
        changed = await owner.submit(f"{URLS['a']}/password", {}, from_page=page)
        assert "password changed" in changed.text

        assert await thief.everyone() == dict.fromkeys("abc", None)
        assert await owner.everyone() == dict.fromkeys("abc", ALICE[0])  # signed in again, everywhere
        for name in "abc":
            ended = await net.sites[name].site.stores.sessions.list(user=ALICE[0], include_ended=True)
            assert any(s.end_reason and "password changed" in s.end_reason for s in ended), name


async def test_a_catch_up_from_a_peer_that_kept_a_session_from_before_the_change_is_refused() -> None:
    async with network(c_keeps_its_sessions=True) as net:
        thief, owner = net.browser(), net.browser()
        await thief.sign_in("a", *ALICE)
        await owner.sign_in("a", *ALICE)
        page = await owner.get(f"{URLS['a']}/")
        await owner.submit(f"{URLS['a']}/password", {}, from_page=page)

        assert await thief.who("c") == ALICE[0]  # C may not be told by A: it keeps its session
        caught_up_nowhere_lately(thief)  # the next visit asks the peers
        # A and B ended theirs; a catch-up there asks C, whose session predates the change.
        assert await thief.who("a") is None
        assert await thief.who("b") is None
        activity = net.sites["a"].site.stores.activity
        assert activity is not None
        refused = [
            e
            for e in await activity.list(limit=1000)
            if e.kind == "login" and str(e.outcome).startswith("refused") and "before" in (e.reason or "")
        ]
        assert refused, "the refusal is in the activity log"
        assert await owner.everyone() == dict.fromkeys("abc", ALICE[0])
        for name in "ab":  # the owner's session alone, signed in again after the change
            live = [s for s in await net.sites[name].site.stores.sessions.list(user=ALICE[0]) if s.active]
            assert len(live) == 1, name


async def test_a_revocation_is_not_undone_by_a_catch_up_either() -> None:
    async with network(c_keeps_its_sessions=True) as net:
        thief = net.browser()
        await thief.sign_in("a", *ALICE)
        await net.sites["a"].site.sign_outs.everywhere(ALICE[0], reason="revoked by administrator")
        caught_up_nowhere_lately(thief)
        assert await thief.who("a") is None  # C still vouches, for a sign-in from before
        again = net.browser()
        await again.sign_in("a", *ALICE)  # a new sign-in after the revocation is fine
        assert await again.everyone() == dict.fromkeys("abc", ALICE[0])


def test_only_a_sign_out_everywhere_makes_earlier_sign_ins_void() -> None:
    from asgi_sessionsync.protocol import UserAction
    from asgi_sessionsync.stores.versions import UserChange, merge, synced, void_before

    def change(action: UserAction, ms: int, **fields: Any) -> UserChange:
        return UserChange(ALICE[0], action, "https://a.example", ms, new_role="member", **fields)

    made = merge(None, None, change(UserAction.CREATE, 1000, name="Alice", password_hash="x$1", may_create=True))
    assert made.user is not None and void_before(made.user) is None  # a create voids nothing
    renamed = merge(made.user, None, change(UserAction.UPDATE, 2000, name="Alice L."))
    assert renamed.user is not None and void_before(renamed.user) is None
    changed = merge(renamed.user, None, change(UserAction.PASSWORD, 3000, password_hash="x$2"))
    # Not by itself (a peer's version is in the peer's clock): by the sign-out everywhere.
    assert changed.user is not None and void_before(changed.user) is None
    voided = merge(changed.user, None, change(UserAction.UPDATE, 0, void_before_ms=3000))
    assert voided.user is not None and void_before(voided.user) == 3.0
    changed = voided
    older = merge(changed.user, None, change(UserAction.UPDATE, 0, void_before_ms=2500))
    assert not older.changed  # only ever raised
    later = merge(changed.user, None, change(UserAction.UPDATE, 0, void_before_ms=9000))
    assert later.user is not None and void_before(later.user) == 9.0
    assert later.user.name == "Alice L." and later.user.password_hash == "x$2"  # nothing else changes
    # The mark is no change of the user's: a delete from before it still deletes.
    deleted = merge(later.user, None, change(UserAction.DELETE, 0, version=(3500, "https://b.example")))
    assert deleted.changed and deleted.user is None
    fresh = merge(None, None, change(UserAction.CREATE, 1, may_create=True))
    assert fresh.user is not None
    unsynced = merge(dataclasses_replace(fresh.user, versions={}), None, change(UserAction.UPDATE, 0, void_before_ms=5))
    assert unsynced.user is not None and not synced(unsynced.user)  # still never synced


def dataclasses_replace(user: Any, **fields: Any) -> Any:
    import dataclasses

    return dataclasses.replace(user, **fields)
