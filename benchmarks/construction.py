"""What building one ``SessionSyncMiddleware`` costs (memory stores, two peers).

Nothing is opened or derived at construction: the HTTP client for peers is made at the
first peer request, keys are derived off the event loop at start-up (and cached per
process by secret), stores are given. Measured: the middleware from ready ``Settings``;
the middleware from keyword settings (``Settings`` read and validated too; the secret's
key ids already cached, as for every site after the first on one secret); and, for
scale, the ``httpx.AsyncClient`` construction used to be eager here (issue: ~50 ms
per middleware, mostly that client).

Run: python -m benchmarks.construction [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from asgi_sessionsync import Peer, SessionSyncMiddleware, Settings
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.stores import memory_stores
from benchmarks.timing import machine, per_call, us

SITE = "https://a.example"
PEERS = [Peer("https://b.example", "http://b.internal"), Peer("https://c.example", "http://c.internal")]


async def app(scope: Any, receive: Any, send: Any) -> None:
    """The app being wrapped; never called here."""


def main(quick: bool = False) -> dict[str, float]:
    secret = generate_secret()
    options: dict[str, Any] = {"site_url": SITE, "secret_keys": [secret], "peers": PEERS, "store": "memory://"}
    settings = Settings.from_env({}, env_file=None, **options)

    start = time.perf_counter()
    SessionSyncMiddleware(app, settings, stores=memory_stores())
    first = time.perf_counter() - start

    number, rounds = (50, 3) if quick else (500, 7)
    figures = {
        "middleware, from Settings": per_call(
            lambda: SessionSyncMiddleware(app, settings, stores=memory_stores()), number=number, rounds=rounds
        ),
        "middleware, from keywords (Settings validated too)": per_call(
            lambda: SessionSyncMiddleware(app, stores=memory_stores(), env_file=None, **options),
            number=number,
            rounds=rounds,
        ),
        "for scale: one httpx.AsyncClient (no longer built here)": per_call(
            httpx.AsyncClient, number=max(number // 10, 5), rounds=rounds
        ),
    }
    print(f"Building one SessionSyncMiddleware (memory stores, 2 peers) — {machine()}")
    print(f"  median of {rounds} rounds of {number} builds; the first build in this process: {us(first).strip()}")
    for label, seconds in figures.items():
        print(f"  {label:<58} {us(seconds)}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.construction", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer builds (a smoke run)")
    main(parser.parse_args().quick)
