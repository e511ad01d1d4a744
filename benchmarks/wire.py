"""Over the wire: uvicorn serving the bare app and the wrapped apps, loaded by wrk
from a second process on loopback (bounded in time), plus a 10 MB streamed HTML page.

Run: python -m benchmarks.wire [--seconds 10]   (needs Debian's wrk)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from benchmarks.apps import FACTORIES
from benchmarks.timing import machine
from tests.harness.processes import free_ports, wait_until_answering
from tests.harness.redis_server import start_redis_server

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def serve(variant: str, port: int, secret: str, *, store: str = "memory://", workers: int = 1) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
    env.update(
        SESSIONSYNC_SITE_URL=f"http://127.0.0.1:{port}",
        SESSIONSYNC_SECRET_KEYS=secret,
        SESSIONSYNC_STORE=store,
        SESSIONSYNC_COOKIE_SECURE="false",
    )
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"benchmarks.apps:{FACTORIES[variant]}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base + "/", process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def wrk(url: str, seconds: int, cookie: str | None) -> tuple[float, float]:
    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_text, out
    p99 = float(p99_text.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99_text.group(2)]
    return rps, p99


def stream_time(url: str, runs: int = 7) -> float:
    samples = []
    with httpx.Client() as client:
        for _ in range(runs):
            start = time.perf_counter()
            with client.stream("GET", url) as response:
                for _ in response.iter_raw(65536):
                    pass
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def shared_stores(seconds: int, rounds: int, secret: str) -> None:
    """Two uvicorn workers sharing one store, SQLite file or Redis, against the bare app
    under two workers: the signed-in share of the bare app's requests per second."""
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        redis_url = stack.enter_context(start_redis_server(Path(tmp) / "redis"))
        variants = {
            "bare": ("bare", "memory://"),
            "SessionSync, SQLite store": ("sessionsync", f"sqlite:///{tmp}/wire.sqlite3"),
            "SessionSync, Redis store": ("sessionsync", f"{redis_url}?prefix=wire"),
        }
        bases = {
            label: stack.enter_context(serve(factory, free_ports(1)[0], secret, store=store, workers=2))
            for label, (factory, store) in variants.items()
        }
        cookies = {
            label: httpx.get(base + "/login").headers["set-cookie"].split(";", 1)[0]
            for label, base in bases.items()
            if label != "bare"
        }
        cookies["bare"] = cookies["SessionSync, SQLite store"]
        for _ in range(rounds):
            for label, base in bases.items():
                samples.setdefault(label, []).append(wrk(base + "/", seconds, cookies[label])[0])
    results = {label: statistics.median(xs) for label, xs in samples.items()}
    print(f"\nTwo workers sharing a store (uvicorn --workers 2), signed in; median of {rounds} interleaved rounds\n")
    print("| case | requests/s | vs bare (2 workers) |")
    print("|---|---|---|")
    for label, rps in results.items():
        print(f"| {label} | {rps:.0f} | {rps / results['bare'] * 100:.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument(
        "--shared-stores", action="store_true", help="only the two-worker comparison of the SQLite and Redis stores"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    secret = generate_secret()
    if args.shared_stores:
        shared_stores(args.seconds, args.rounds, secret)
        return
    samples: dict[str, dict[str, list[float]]] = {v: {} for v in FACTORIES}
    with ExitStack() as stack:
        bases = {v: stack.enter_context(serve(v, free_ports(1)[0], secret)) for v in FACTORIES}
        real = httpx.get(bases["sessionsync"] + "/login").headers["set-cookie"].split(";", 1)[0]
        # Every variant gets a Cookie header of the same kind: the server parses it either
        # way; Starlette's SessionMiddleware gets a valid session of its own to load.
        cookie = {v: real for v in FACTORIES}
        cookie["starlette-session"] = (
            httpx.get(bases["starlette-session"] + "/login").headers["set-cookie"].split(";", 1)[0]
        )
        for _ in range(args.rounds):  # interleaved, so drift in the machine hits all alike
            for variant, base in bases.items():
                for key, header in (("anon", None), ("cookie", cookie[variant])):
                    rps, p99 = wrk(base + "/", args.seconds, header)
                    samples[variant].setdefault(f"{key}_rps", []).append(rps)
                    samples[variant].setdefault(f"{key}_p99", []).append(p99)
                samples[variant].setdefault("stream_s", []).append(stream_time(base + "/big"))
    results = {v: {k: statistics.median(xs) for k, xs in row.items()} for v, row in samples.items()}
    bare = results["bare"]
    print(
        f"Over the wire: uvicorn (httptools, uvloop), 1 worker each; wrk -t1 -c32 -d{args.seconds}s on loopback; "
        f"median of {args.rounds} interleaved rounds ({machine()})\n"
    )
    print("| case | requests/s | vs bare | p99 latency |")
    print("|---|---|---|---|")
    for key, label in (("anon", "no cookie"), ("cookie", "signed in (a valid session cookie)")):
        for variant, row in results.items():
            rps, p99 = row[f"{key}_rps"], row[f"{key}_p99"]
            print(f"| {variant}, {label} | {rps:.0f} | {rps / bare[f'{key}_rps'] * 100:.1f} % | {p99:.2f} ms |")
    print("\n10 MB HTML in 64 KB chunks through uvicorn, downloaded by httpx (median)\n")
    print("| case | time | vs bare |")
    print("|---|---|---|")
    for variant, row in results.items():
        print(f"| {variant} | {row['stream_s'] * 1e3:.1f} ms | {row['stream_s'] / bare['stream_s']:.2f}× |")
    shared_stores(args.seconds, args.rounds, secret)


if __name__ == "__main__":
    main()
