"""What the middleware costs per request, side by side with the anchors, in one run.

For the same trivial ASGI app: the bare app, the app under Starlette's
``SessionMiddleware``, and the app under ``SessionSyncMiddleware`` (memory and SQLite
stores). A fixed scope, receive and send; many iterations; median of rounds; the
garbage collector runs between rounds and stays on inside them.

Logging is configured as a production deployment would (a root handler at WARNING), so
the package's own fallback handler stays silent; the sign-in is measured a second time
with the package's INFO lines written to a file, what a deployment logging INFO pays.

Run: python -m benchmarks.middleware [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Message, Receive, Scope, Send

from asgi_sessionsync import Peer, SessionSyncMiddleware, Settings, sign_in
from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import Stores, memory_stores, sqlite_stores
from asgi_sessionsync.stores.redis import redis_stores
from asgi_sessionsync.testing import SiteNetwork
from benchmarks.timing import machine, per_call_async, per_call_interleaved, us
from tests.harness.redis_server import start_redis_server

HTML = b"<!doctype html><html><head><title>t</title></head><body><h1>Hello</h1></body></html>"
TEXT = b"Hello, world"
SITE, PEER = "https://a.example", "https://b.example"
CLIENT = ("203.0.113.7", 40000)


def make_app(body: bytes, content_type: bytes, *, touch_session: bool = False, signs_in: bool = False) -> Any:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if touch_session:
            scope["session"]["n"] = scope["session"].get("n", 0) + 1
        if signs_in:
            sign_in(scope, "alice@example.com")
        # Fresh messages every time: a middleware may append to the headers it is given.
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def scope_for(path: str = "/", cookie: str | None = None) -> Scope:
    headers = [(b"host", b"a.example"), (b"accept", b"text/html")]
    if cookie:
        headers.append((b"cookie", cookie.encode("latin-1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path.split("?")[0],
        "raw_path": path.split("?")[0].encode(),
        "root_path": "",
        "query_string": path.partition("?")[2].encode(),
        "headers": headers,
        "client": CLIENT,
        "server": ("a.example", 443),
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


def caller(app: Any, scope: Scope) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await app(dict(scope), _receive, _send)

    return call


def sync_settings(secret: str, **extra: Any) -> Settings:
    return Settings.from_env(
        {}, env_file=None, site_url=SITE, secret_keys=[secret], peers=[Peer(PEER)], store="memory://", **extra
    )


async def session_cookie(mw: SessionSyncMiddleware) -> str:
    """A real session: sign in through the middleware and keep its cookie."""
    login = SessionSyncMiddleware(make_app(HTML, b"text/html", signs_in=True), mw.settings, stores=mw.site.stores)
    login.site.answering.peers = ()  # the cookie is what we want here, not the sync
    captured: list[Message] = []

    async def send(message: Message) -> None:
        captured.append(message)

    await login(scope_for("/login"), _receive, send)
    cookie: str = next(v for k, v in captured[0]["headers"] if k == b"set-cookie").decode()
    await login.worker.stop()  # the stores are shared with ``mw``: leave them open
    await login.site.client.aclose()
    return cookie.split(";", 1)[0]


async def starlette_cookie(app: Any) -> str:
    captured: list[Message] = []

    async def send(message: Message) -> None:
        captured.append(message)

    await app(scope_for(), _receive, send)
    cookie: str = next(v for k, v in captured[0]["headers"] if k == b"set-cookie").decode()
    return cookie.split(";", 1)[0]


Row = tuple[str, float, float | None, list[float]]
STORES = ("memory", "SQLite", "Redis")


async def per_request(number: int, rounds: int, redis_url: str) -> list[Row]:
    secret = generate_secret()
    rows: list[Row] = []
    tmp = Path(tempfile.mkdtemp(prefix="sessionsync-bench-"))
    made: list[SessionSyncMiddleware] = []

    def ours(app: Any, name: str, **extra: Any) -> list[SessionSyncMiddleware]:
        """One middleware per store (memory, SQLite, Redis), each its own fresh store."""
        stores: list[Stores] = [
            memory_stores(),
            sqlite_stores(tmp / f"{name}.sqlite3"),
            redis_stores(redis_url, prefix=f"bench-{name}"),
        ]
        mws = [SessionSyncMiddleware(app, sync_settings(secret, **extra), stores=s) for s in stores]
        made.extend(mws)
        return mws

    async def measure(label: str, bare: Any, starlette: Any | None, mine: list[Any]) -> None:
        base, star, *measured = await per_call_interleaved([bare, starlette, *mine], number=number, rounds=rounds)
        assert base is not None
        rows.append((label, base, star, [m for m in measured if m is not None]))

    for label, body, kind in (
        ("anonymous, non-HTML", TEXT, b"text/plain"),
        ("anonymous, HTML page", HTML, b"text/html"),
    ):
        app = make_app(body, kind)
        mws = ours(app, kind[5:].decode())
        await measure(
            label,
            caller(app, scope_for()),
            caller(SessionMiddleware(app, secret_key="x" * 32), scope_for()),
            [caller(mw, scope_for()) for mw in mws],
        )

    # Signed in: a valid session cookie (envelope open, IP check, registry look-up).
    app = make_app(HTML, b"text/html")
    mws = ours(app, "signed")
    cookies = [await session_cookie(mw) for mw in mws]
    reading = SessionMiddleware(make_app(HTML, b"text/html"), secret_key="x" * 32)
    writing = SessionMiddleware(make_app(HTML, b"text/html", touch_session=True), secret_key="x" * 32)
    star_cookie = await starlette_cookie(writing)
    signed_in = [caller(mw, scope_for(cookie=c)) for mw, c in zip(mws, cookies, strict=True)]
    await measure(
        "signed in, session loaded",
        caller(app, scope_for(cookie=cookies[0])),
        caller(reading, scope_for(cookie=star_cookie)),
        signed_in,
    )
    await measure(
        "signed in; Starlette also saves",
        caller(app, scope_for(cookie=cookies[0])),
        caller(writing, scope_for(cookie=star_cookie)),
        signed_in,
    )
    # The same signed-in request with a session policy that uses every rule loaded: the
    # request path only compares last_seen_at with the role's idle limit.
    mws = ours(app, "policy", policy=every_rule_policy(), geoip_database=str(country_database(tmp)))
    cookies = [await session_cookie(mw) for mw in mws]
    await measure(
        "signed in, session policy with every rule loaded",
        caller(app, scope_for(cookie=cookies[0])),
        None,
        [caller(mw, scope_for(cookie=c)) for mw, c in zip(mws, cookies, strict=True)],
    )
    for m in made:
        await m.aclose()
    return rows


def every_rule_policy() -> Policy:
    """A policy that uses every rule (limits high enough that none is hit)."""
    return Policy.from_mapping(
        {
            "defaults": {
                "max_sessions": 50,
                "max_sessions_per_ip": 50,
                "max_sessions_per_country": 50,
                "max_sessions_per_device_class": 50,
                "max_sessions_per_browser": 50,
                "max_sessions_per_os": 50,
                "max_ips": 50,
                "ip_window": "1d",
                "on_limit": "end-oldest",
                "block_ips": ["192.0.2.0/24"],
                "allow_ips": ["private", "public"],
                "idle_timeout": "30m",
            }
        }
    )


def country_database(folder: Path) -> Path:
    """A tiny MaxMind-format country database (needs mmdb-writer, a test dependency)."""
    path = folder / "countries.mmdb"
    if not path.exists():
        from mmdb_writer import MMDBWriter
        from netaddr import IPSet

        writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
        writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "NL"}})
        writer.to_db_file(str(path))
    return path


def with_peer(app: Any, secret: str) -> SiteNetwork:
    """Site A wrapping ``app`` and site B, a real peer answering A's health checks and
    hops, in an in-process network."""
    return SiteNetwork({"a": app, "b": make_app(HTML, b"text/html")}, urls={"a": SITE, "b": PEER}, secret=secret)


async def sync_steps(number: int, rounds: int) -> list[tuple[str, float]]:
    """The rare, heavy paths: a sign-in that injects the chain, and a hop on a peer."""
    net = with_peer(make_app(HTML, b"text/html", signs_in=True), generate_secret())
    signer, peer = net.sites["a"], net.sites["b"]
    results = [
        (
            "sign-in answered with HTML: session + chain injected",
            await per_call_async(caller(signer, scope_for("/login")), number=number // 4, rounds=rounds),
        )
    ]
    with tempfile.TemporaryDirectory() as logs:
        package = logging.getLogger("asgi_sessionsync")
        handler = logging.FileHandler(Path(logs) / "info.log")
        package.addHandler(handler)
        package.setLevel(logging.INFO)
        package.propagate = False  # to the file only, not to the root's stderr handler
        try:
            results.append(
                (
                    "the same sign-in, the package's INFO lines written to a file",
                    await per_call_async(caller(signer, scope_for("/login")), number=number // 4, rounds=rounds),
                )
            )
        finally:
            package.removeHandler(handler)
            package.setLevel(logging.NOTSET)
            package.propagate = True
            handler.close()

    site = signer.site
    a_cookie = await session_cookie(signer)
    session = await site.resolver.resolve(a_cookie.split("=", 1)[1], site.address.bind_value(scope_for()))
    assert session is not None

    async def location_of(app: Any, scope: Scope) -> tuple[str, list[str]]:
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)

        await app(scope, _receive, keep)
        headers = sent[0]["headers"]
        location = next(v.decode("latin-1") for k, v in headers if k == b"location")
        cookies = [v.decode("latin-1").split(";", 1)[0] for k, v in headers if k == b"set-cookie"]
        return location, cookies

    spent = {"chain start (the note for B)": 0.0, "pull on B": 0.0, "authorize on A": 0.0, "hop on B": 0.0}
    rounds_done = 0

    async def pull_round() -> None:
        """One peer's whole v2 step: B's pull, A's authorize (A's own session), B's hop."""
        nonlocal rounds_done
        t0 = time.perf_counter()
        first = await site.answering.start_chain(
            session, return_url=f"{SITE}/", ip=site.address.bind_value(scope_for())
        )
        assert first is not None
        t1 = time.perf_counter()
        authorize, bind = await location_of(peer, scope_for(first.split("b.example", 1)[1]))
        t2 = time.perf_counter()
        hop, _ = await location_of(signer, scope_for(authorize.split("a.example", 1)[1], a_cookie))
        t3 = time.perf_counter()
        await location_of(peer, scope_for(hop.split("b.example", 1)[1], "; ".join(bind)))
        t4 = time.perf_counter()
        for step, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[step] += seconds
        rounds_done += 1
        # B's session of this round ended (outside the per-step times, inside the round's), as
        # a sign-out would: one browser has one session on B, not one per round (each hop
        # would read them all).
        await peer.site.stores.sessions.end_user(session.user, reason="bench", when=time.time())

    # A sign-in with every policy rule evaluated (device read, country looked up, the
    # user's sessions counted, IP ranges checked), a new user each time so none is hit.
    users = iter(range(10**9))

    def governed_app() -> Any:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            sign_in(scope, f"user{next(users)}@example.com")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": HTML})

        return app

    tmp = Path(tempfile.mkdtemp(prefix="sessionsync-bench-"))
    for label, store in (("memory", memory_stores()), ("SQLite", sqlite_stores(tmp / "governed.sqlite3"))):
        governed = SessionSyncMiddleware(
            governed_app(),
            sync_settings(generate_secret(), policy=every_rule_policy(), geoip_database=str(country_database(tmp))),
            stores=store,
        )
        governed.site.answering.peers = ()  # the session and its checks, not the chain
        await governed.site.admissions.start()
        scope = scope_for("/login")
        scope["headers"] = [*scope["headers"], (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")]
        results.append(
            (
                f"sign-in with every policy rule on ({label}): device, country, counts, IP ranges, session",
                await per_call_async(caller(governed, scope), number=number // 10, rounds=rounds),
            )
        )
        bare = SessionSyncMiddleware(
            governed_app(),
            sync_settings(generate_secret()),
            stores=memory_stores() if label == "memory" else sqlite_stores(tmp / "plain.sqlite3"),
        )
        bare.site.answering.peers = ()
        results.append(
            (
                f"the same sign-in without a policy ({label})",
                await per_call_async(caller(bare, scope), number=number // 10, rounds=rounds),
            )
        )
        for m in (governed, bare):
            await m.aclose()

    results.append(
        (
            "one peer's pull (v2): pull on the peer, authorize here, hop on the peer",
            await per_call_async(pull_round, number=number // 4, rounds=rounds),
        )
    )
    for step, seconds in spent.items():
        results.append((f"  of which {step} (mean)", seconds / rounds_done))
    await net.aclose()
    return results


async def streaming(size: int = 10 * 1024 * 1024, chunk: int = 64 * 1024) -> list[tuple[str, float, float, int]]:
    """A 10 MB HTML body in 64 KB chunks: time and peak traced memory, bare vs wrapped."""
    secret = generate_secret()
    piece = b"<p>" + b"x" * (chunk - 7) + b"</p>"
    count = size // chunk

    def streaming_app(signs_in: bool) -> Any:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if signs_in:
                sign_in(scope, "alice@example.com")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": b"<html><body>", "more_body": True})
            for _ in range(count):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"</body></html>", "more_body": False})

        return app

    async def run(app: Any) -> tuple[float, int]:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            await app(scope_for(), _receive, _send)
            best = min(best, time.perf_counter() - start)
        tracemalloc.start()
        await app(scope_for(), _receive, _send)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return best, peak

    results = []
    for label, signs_in in (("10 MB HTML, nothing to inject", False), ("10 MB HTML, sign-in: chain injected", True)):
        bare_time, bare_peak = await run(streaming_app(signs_in=False))
        async with with_peer(streaming_app(signs_in), secret) as net:
            time_wrapped, peak_wrapped = await run(net.sites["a"])
        results.append((label, bare_time, time_wrapped, peak_wrapped - bare_peak))
    return results


def ratio(value: float | None, base: float) -> str:
    return "—" if value is None else f"{value / base:5.2f}×"


async def main(quick: bool) -> None:
    number, rounds = (2000, 3) if quick else (10000, 5)
    logging.basicConfig(level=logging.WARNING)
    print(
        f"Per request, in process ({machine()}); the process's CPU time per request, median of {rounds} "
        f"interleaved rounds of {number}\n"
    )
    print("| case | bare app | + SessionMiddleware | " + " | ".join(f"+ SessionSync ({s})" for s in STORES) + " |")
    print("|---|---|---|" + "---|" * len(STORES))
    with tempfile.TemporaryDirectory() as tmp, start_redis_server(Path(tmp) / "redis") as redis_url:
        rows = await per_request(number, rounds, redis_url)
    for label, base, star, mine in rows:
        cells = [f"{us(base).strip()}"]
        for value in (star, *mine):
            cells.append(
                "—"
                if value is None
                else f"{us(value).strip()} ({ratio(value, base).strip()}, +{(value - base) * 1e6:.2f} µs)"
            )
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nSync steps (SessionSync only; rare per user)\n")
    for label, seconds in await sync_steps(number, rounds):
        print(f"- {label}: {us(seconds).strip()}")
    print("\nStreaming 10 MB of HTML in 64 KB chunks, in process (best of 5). The bare app's time here")
    print("is only its own loop (no socket), so the added time is what counts; see benchmarks.wire")
    print("for the ratio through a real server.\n")
    print("| case | bare app | wrapped | added | extra peak memory |")
    print("|---|---|---|---|---|")
    for label, bare_time, wrapped_time, extra in await streaming():
        added = (wrapped_time - bare_time) * 1e3
        print(
            f"| {label} | {bare_time * 1e3:.2f} ms | {wrapped_time * 1e3:.2f} ms | {added:+.2f} ms "
            f"| {extra / 1024:.0f} KiB |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    asyncio.run(main(parser.parse_args().quick))
