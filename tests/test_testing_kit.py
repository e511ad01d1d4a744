"""The test kit keeps its promises: what its browser sends (as Chromium does), which
cookies go where (SameSite), and that a SiteNetwork closes what it opened.

The expected headers are those a current Chromium sends for the same steps (checked
against Chromium 1xx with a header-logging server: typed URL, link, form, ``<img>``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync.exceptions import StoreError
from asgi_sessionsync.testing import (
    Browser,
    InProcessNetwork,
    SiteNetwork,
    fetch_site,
    hidden_fields,
    registrable_domain,
    same_site,
)
from asgi_sessionsync.testing_apps import login_app, session_login_app
from tests.constants import ALICE, BOB

A, B = "https://a.example", "https://b.example"
Seen = list[tuple[str, str, dict[str, str]]]  # (method, URL, headers) of each request


def recording_app(seen: Seen) -> Starlette:
    """One app for a.example and b.example: pages, a cross-site redirect chain, a form
    target, cookies of each SameSite, and an image."""

    async def record(request: Request) -> None:
        seen.append((request.method, str(request.url), dict(request.headers)))

    async def page(request: Request) -> Response:
        await record(request)
        return HTMLResponse('<html><body><img src="https://b.example/img"></body></html>')

    async def r1(request: Request) -> Response:
        await record(request)
        return RedirectResponse(f"{B}/r2", status_code=303)

    async def r2(request: Request) -> Response:
        await record(request)
        return RedirectResponse(f"{A}/end", status_code=303)

    async def post(request: Request) -> Response:
        await record(request)
        return RedirectResponse(f"{B}/r2", status_code=303)

    async def set_cookies(request: Request) -> Response:
        await record(request)
        response = HTMLResponse("set")
        response.set_cookie("lax", "1", samesite="lax", secure=True)
        response.set_cookie("strict", "1", samesite="strict", secure=True)
        response.set_cookie("none", "1", samesite="none", secure=True)
        response.headers.append("set-cookie", "unspecified=1; Path=/; Secure")
        return response

    async def image(request: Request) -> Response:
        await record(request)
        response = RedirectResponse("/elsewhere.png", status_code=302)
        response.set_cookie("img-lax", "1", samesite="lax", secure=True)
        response.set_cookie("img-none", "1", samesite="none", secure=True)
        return response

    async def pixel(request: Request) -> Response:
        await record(request)
        return Response(b"GIF89a", media_type="image/gif")

    return Starlette(
        routes=[
            Route("/", page),
            Route("/r1", r1),
            Route("/r2", r2),
            Route("/end", page),
            Route("/post", post, methods=["POST"]),
            Route("/set", set_cookies),
            Route("/img", image),
            Route("/pixel", pixel),
        ]
    )


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[Browser, Seen]]:
    seen: Seen = []
    network = InProcessNetwork()
    network.add(["a.example", "b.example"], recording_app(seen))
    async with Browser(network) as browser:
        yield browser, seen


def fetch_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("sec-fetch-") or k in ("origin", "referer")}


def cookie_names(headers: dict[str, str]) -> list[str]:
    return sorted(part.split("=", 1)[0] for part in headers.get("cookie", "").split("; ") if part)


# --- Fetch Metadata ----------------------------------------------------------------------


async def test_a_typed_navigation_is_sec_fetch_site_none_along_its_whole_chain(
    recorded: tuple[Browser, Seen],
) -> None:
    browser, seen = recorded
    response = await browser.get(f"{A}/r1")
    assert str(response.url) == f"{A}/end"
    assert [str(r.url) for r in response.history] == [f"{A}/r1", f"{B}/r2"]
    assert browser.history == [f"{A}/r1", f"{B}/r2", f"{A}/end"]
    typed = {
        "sec-fetch-site": "none",
        "sec-fetch-mode": "navigate",
        "sec-fetch-dest": "document",
        "sec-fetch-user": "?1",
    }
    assert [fetch_headers(h) for _, _, h in seen] == [typed, typed, typed]
    assert seen[0][2]["accept"].startswith("text/html,application/xhtml+xml")


async def test_a_link_followed_across_sites_is_the_least_same_site_of_the_chain_so_far(
    recorded: tuple[Browser, Seen],
) -> None:
    browser, seen = recorded
    page = await browser.get(f"{A}/")
    seen.clear()
    await browser.get("/r1", from_page=page)
    sites = [(url, h["sec-fetch-site"]) for _, url, h in seen]
    assert sites == [(f"{A}/r1", "same-origin"), (f"{B}/r2", "cross-site"), (f"{A}/end", "cross-site")]
    assert all(h["sec-fetch-user"] == "?1" and h["sec-fetch-mode"] == "navigate" for _, _, h in seen)
    # The referrer is the page the link was on: in full to its own origin, the origin elsewhere.
    assert [h["referer"] for _, _, h in seen] == [f"{A}/", f"{A}/", f"{A}/"]
    assert "origin" not in seen[0][2]


async def test_a_form_post_sends_origin_and_a_303_continues_as_a_get_without_it(
    recorded: tuple[Browser, Seen],
) -> None:
    browser, seen = recorded
    page = await browser.get(f"{A}/")
    seen.clear()
    await browser.submit("/post", {"q": "1"}, from_page=page)
    (method, _, post), (after, _, hop) = seen[0], seen[1]
    assert method == "POST" and after == "GET"
    assert fetch_headers(post) == {
        "sec-fetch-site": "same-origin",
        "sec-fetch-mode": "navigate",
        "sec-fetch-dest": "document",
        "sec-fetch-user": "?1",
        "origin": A,
        "referer": f"{A}/",
    }
    assert post["content-type"] == "application/x-www-form-urlencoded"
    assert hop["sec-fetch-site"] == "cross-site" and "origin" not in hop

    seen.clear()
    other = await browser.get(f"{B}/")
    await browser.submit(f"{A}/post", {"q": "1"}, from_page=other)
    assert seen[1][2]["sec-fetch-site"] == "cross-site" and seen[1][2]["origin"] == B


async def test_an_image_is_a_no_cors_subresource_that_stops_at_a_redirect(recorded: tuple[Browser, Seen]) -> None:
    browser, seen = recorded
    page = await browser.get(f"{A}/")
    seen.clear()
    response = await browser.subresource(f"{B}/img", from_page=page)
    assert response.status_code == 302 and len(seen) == 1
    assert fetch_headers(seen[0][2]) == {
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "no-cors",
        "sec-fetch-dest": "image",
        "referer": f"{A}/",
    }
    assert seen[0][2]["accept"].startswith("image/")
    same = await browser.subresource("/img", from_page=f"{B}/")
    assert same.status_code == 302 and seen[1][2]["sec-fetch-site"] == "same-origin"


async def test_a_frame_navigation_is_dest_iframe_without_user_activation(recorded: tuple[Browser, Seen]) -> None:
    browser, seen = recorded
    await browser.frame(f"{B}/", from_page=f"{A}/")
    assert fetch_headers(seen[0][2]) == {
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "navigate",
        "sec-fetch-dest": "iframe",
        "referer": f"{A}/",
    }


async def test_a_no_referrer_policy_on_a_redirect_drops_the_referer_from_the_next_request() -> None:
    seen: Seen = []

    async def hop(request: Request) -> Response:
        seen.append((request.method, str(request.url), dict(request.headers)))
        return RedirectResponse(f"{B}/next", status_code=303, headers={"referrer-policy": "no-referrer"})

    async def land(request: Request) -> Response:
        seen.append((request.method, str(request.url), dict(request.headers)))
        return HTMLResponse("ok")

    network = InProcessNetwork()
    network.add(["a.example", "b.example"], Starlette(routes=[Route("/hop", hop), Route("/next", land)]))
    async with Browser(network) as browser:
        await browser.get(f"{A}/hop", from_page=f"{A}/page?secret=1")
    assert seen[0][2]["referer"] == f"{A}/page?secret=1"
    assert "referer" not in seen[1][2]


def test_sites_are_scheme_and_registrable_domain_and_reserved_names_are_each_their_own() -> None:
    assert registrable_domain("shop.example.com") == "example.com"
    assert registrable_domain("www.shop.co.uk") == "shop.co.uk"
    assert registrable_domain("a.example") == "a.example" and registrable_domain("x.a.example") == "x.a.example"
    assert registrable_domain("a.localhost") == "a.localhost"
    assert fetch_site("https://a.example.com/", "https://b.example.com/x") == "same-site"
    assert fetch_site("http://a.example.com/", "https://a.example.com/") == "cross-site"
    assert fetch_site("https://a.example/", "https://b.example/") == "cross-site"
    assert fetch_site("https://a.example/x", "https://a.example/y") == "same-origin"


def test_reserved_names_stay_sites_of_their_own_and_the_rest_follows_the_public_suffix_list() -> None:
    # localhost, example, test (and invalid): every host is its own site, as before the list.
    for tld in ("localhost", "example", "test", "invalid"):
        assert registrable_domain(f"a.{tld}") == f"a.{tld}"
        assert registrable_domain(f"x.a.{tld}") == f"x.a.{tld}"
        assert not same_site(f"https://a.{tld}/", f"https://b.{tld}/")
        assert not same_site(f"https://x.a.{tld}/", f"https://a.{tld}/")
    assert registrable_domain("localhost") == "localhost"
    assert same_site("http://a.localhost:8001/", "http://a.localhost:8002/")  # ports do not count
    assert registrable_domain("127.0.0.1") == "127.0.0.1" and registrable_domain("[::1]") == "[::1]"
    # The list: ICANN suffixes of any depth, and the private section, as browsers use it.
    assert registrable_domain("a.b.shop.example.com") == "example.com"
    assert registrable_domain("www.city.kawasaki.jp") == "city.kawasaki.jp"
    assert registrable_domain("www.shop.com.au") == "shop.com.au"
    assert registrable_domain("co.uk") == "co.uk"  # a public suffix is a site of its own
    assert registrable_domain("a.ann.github.io") == "ann.github.io"
    assert not same_site("https://ann.github.io/", "https://bob.github.io/")
    assert registrable_domain("Shop.Example.COM.") == "example.com"


# --- SameSite ----------------------------------------------------------------------------


async def test_lax_cookies_stay_off_cross_site_images_and_go_on_cross_site_top_level_navigations(
    recorded: tuple[Browser, Seen],
) -> None:
    browser, seen = recorded
    await browser.get(f"{B}/set")
    page = await browser.get(f"{A}/")
    seen.clear()

    await browser.subresource(f"{B}/pixel", from_page=page)
    assert cookie_names(seen[-1][2]) == ["none"]

    await browser.get(f"{B}/", from_page=page)  # a link: cross-site, top-level GET
    assert cookie_names(seen[-1][2]) == ["lax", "none", "unspecified"]

    await browser.submit(f"{B}/post", {}, from_page=page)  # cross-site POST: no Lax
    assert cookie_names(seen[-3][2]) == ["none"]

    await browser.get(f"{B}/")  # typed: not cross-site at all
    assert cookie_names(seen[-1][2]) == ["lax", "none", "strict", "unspecified"]

    await browser.subresource("/pixel", from_page=f"{B}/")  # same-site image: everything
    assert cookie_names(seen[-1][2]) == ["lax", "none", "strict", "unspecified"]


async def test_cross_site_images_keep_only_samesite_none_cookies_and_none_only_with_third_party_cookies() -> None:
    seen: Seen = []
    network = InProcessNetwork()
    network.add(["a.example", "b.example"], recording_app(seen))
    async with Browser(network) as allowed, Browser(network, third_party_cookies=False) as blocking:
        for browser in (allowed, blocking):
            await browser.get(f"{B}/set")
            await browser.subresource(f"{B}/img", from_page=f"{A}/")
        assert cookie_names(seen[1][2]) == ["none"]
        assert cookie_names(seen[3][2]) == []
        assert allowed.cookies.get("img-none") == "1" and allowed.cookies.get("img-lax") is None
        assert blocking.cookies.get("img-none") is None
        # Third-party blocking is about embedded loads: a top-level navigation still has them.
        await blocking.get(f"{B}/", from_page=f"{A}/")
        assert cookie_names(seen[-1][2]) == ["lax", "none", "unspecified"]


async def test_the_jar_follows_max_age_expires_path_and_the_httpx_cookie_api(recorded: tuple[Browser, Seen]) -> None:
    browser, seen = recorded
    url = httpx.URL(f"{A}/")
    now_cookies = [
        "gone=1; Max-Age=0; Path=/",
        "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        "deep=1; Path=/deep",
        "plain=1",
    ]
    browser.cookies.store(now_cookies, url)
    assert sorted(c.name for c in browser.cookies) == ["deep", "plain"]
    browser.client.cookies.set("manual", "x", domain="a.example")
    await browser.get(f"{A}/")
    assert cookie_names(seen[-1][2]) == ["manual", "plain"]
    browser.client.cookies.delete("manual", domain="a.example")
    assert browser.cookies.get("manual") is None
    browser.cookies.store(["plain=; Max-Age=0"], url)
    assert [c.name for c in browser.cookies] == ["deep"]


# --- the reference apps and SiteNetwork --------------------------------------------------


async def test_site_network_shares_login_and_closes_its_sites_and_browsers(tmp_path: Path) -> None:
    secret = "c-session-secret"
    apps = {
        "a": login_app("a", dict([ALICE])),
        "b": login_app("b"),
        "c": session_login_app("c", dict([BOB]), secret_key=secret),
    }
    c_settings = {"identity": "starlette-session", "app_session_secret": secret}
    async with SiteNetwork(apps, data_dir=tmp_path, site_settings={"c": c_settings}) as net:
        browser = net.browser()
        assert await browser.everyone() == {"a": None, "b": None, "c": None}
        await browser.sign_in("c", *BOB)
        assert await browser.everyone() == dict.fromkeys("abc", BOB[0])
        assert [site.settings.store for site in net.sites.values()] == [
            f"sqlite:///{tmp_path / f'site-{name}.sqlite3'}" for name in "abc"
        ]
    assert browser.client.is_closed
    for site in net.sites.values():
        assert not site.worker.started
        with pytest.raises(StoreError):
            await site.site.stores.users.get(BOB[0])


async def test_site_network_mounts_a_site_url_with_a_path_and_takes_sites_down_by_name() -> None:
    async with SiteNetwork(
        {"a": login_app("a", dict([ALICE])), "s": login_app("s")},
        urls={"s": "https://s.example/shop"},
        backchannel_urls={"s": "http://s.internal/shop"},
    ) as net:
        browser = net.browser()
        landed = await browser.sign_in("a", *ALICE)
        assert f"{net.urls['s']}/_sessionsync/hop" in [str(r.url).split("?")[0] for r in landed.history]
        assert await browser.who("s") == ALICE[0]
        net.network.down.add("s")
        with pytest.raises(httpx.ConnectError):
            await browser.get("http://s.internal/shop/")


async def test_login_app_refuses_a_wrong_password_and_a_post_without_its_csrf_token() -> None:
    async with SiteNetwork({"a": login_app("a", dict([ALICE]))}) as net:
        browser = net.browser()
        form = await browser.get(f"{net.urls['a']}/login?next=/account")
        assert set(hidden_fields(form)) == {"next", "csrf"} and hidden_fields(form)["next"] == "/account"
        wrong = await browser.submit(
            "/login", {**hidden_fields(form), "email": ALICE[0], "password": "x"}, from_page=form
        )
        assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
        forged = await browser.submit("/login", {"email": ALICE[0], "password": ALICE[1]}, from_page=form)
        assert forged.status_code == 403
        right = await browser.submit(
            "/login", {**hidden_fields(form), "email": ALICE[0], "password": ALICE[1]}, from_page=form
        )
        assert str(right.url) == f"{net.urls['a']}/account" and "Account of alice@example.com" in right.text


async def test_login_app_without_its_csrf_check_takes_a_bare_post_as_an_unprotected_app_would() -> None:
    async with SiteNetwork({"a": login_app("a", dict([ALICE]), csrf_check=False)}) as net:
        browser = net.browser()
        fields = {"email": ALICE[0], "password": ALICE[1], "next": "/"}
        landed = await browser.submit(f"{net.urls['a']}/login", fields, from_page="https://evil.example/")
        assert "Signed in as alice@example.com" in landed.text
