"""A site mounted under a sub-path, and a site that belongs to two networks."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from asgi_sessionsync import Network, Peer, sign_in, sign_out
from asgi_sessionsync.keys import generate_secret, parse_secret
from asgi_sessionsync.settings import Secret
from asgi_sessionsync.testing import Browser, SiteNetwork
from asgi_sessionsync.testing_apps import login_app
from tests.frameworks.harness import ALICE, FRANK, join
from tests.frameworks.pages import USERS, home, login_form


def subpath_app() -> Starlette:
    """A site that lives under a sub-path and builds its URLs from ``root_path``."""

    def here(request: Request, path: str) -> str:
        return str(request.scope.get("root_path", "")) + path

    async def index(request: Request) -> Response:
        return HTMLResponse(home(request.user.email if request.user.is_authenticated else None))

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(login_form())
        form = await request.form()
        email = str(form.get("email", ""))
        if USERS.get(email) != form.get("password"):
            return HTMLResponse(login_form("Wrong email or password."), status_code=401)
        sign_in(request, email)
        return RedirectResponse(here(request, "/"), status_code=303)

    async def logout(request: Request) -> Response:
        sign_out(request)
        return RedirectResponse(here(request, "/"), status_code=303)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
        ]
    )


async def test_site_mounted_under_a_sub_path_shares_login_both_ways() -> None:
    net = await join(subpath_app(), mount="/shop")
    assert net.urls["f"] == "https://f.example/shop"
    browser = net.browser()
    landed = await browser.sign_in("f", *FRANK)
    assert str(landed.url) == "https://f.example/shop/"
    steps = ["/_sessionsync/pull", "/shop/_sessionsync/authorize", "/_sessionsync/hop"]
    assert [r.url.path for r in landed.history][1:] == steps * 2
    assert await browser.everyone() == {"a": FRANK[0], "c": FRANK[0], "f": FRANK[0]}
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "c": None, "f": None}
    other = net.browser()
    signed_in = await other.sign_in("a", *ALICE)
    assert f"{net.urls['f']}/_sessionsync/hop" in [str(r.url).split("?")[0] for r in signed_in.history]
    assert await other.who("f") == ALICE[0]
    await other.close()
    await browser.close()
    await net.close()


async def test_two_networks_on_one_site_each_sync_only_with_their_own_peers() -> None:
    """X belongs to network "one" (with A) and "two" (with C); A and C share nothing."""
    one, two = generate_secret(), generate_secret()
    urls = {"a": "https://a.example", "x": "https://x.example", "c": "https://c.example"}

    def net(name: str, key: str, *peers: str) -> Network:
        return Network(name, (Secret(parse_secret(key, variable="TEST")),), tuple(Peer(urls[p]) for p in peers))

    layout = {
        "a": (net("one", one, "x"),),
        "x": (net("one", one, "a"), net("two", two, "c")),
        "c": (net("two", two, "x"),),
    }
    sites = SiteNetwork(
        {name: login_app(name, dict([ALICE]), {n: u for n, u in urls.items() if n != name}) for name in layout},
        urls=urls,
        site_settings={name: {"networks": networks} for name, networks in layout.items()},
    )
    network, apps = sites.network, sites.sites

    browser = Browser(network, urls=urls)
    await browser.sign_in("x", *ALICE)
    assert await browser.everyone() == {"a": ALICE[0], "x": ALICE[0], "c": ALICE[0]}
    # A's sign-out reaches its own network (X) and stops there: C is not A's peer.
    await browser.sign_out("a")
    assert await browser.everyone() == {"a": None, "x": None, "c": ALICE[0]}

    only_a = Browser(network, urls=urls)
    await only_a.sign_in("a", *ALICE)
    assert await only_a.everyone() == {"a": ALICE[0], "x": ALICE[0], "c": None}
    for app in apps.values():
        await app.aclose()
