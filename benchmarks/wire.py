"""Over the wire: uvicorn serving the bare app and the wrapped apps, loaded by wrk
from a second process on loopback (bounded in time), plus a 10 MB streamed HTML page.

The figure that holds on a shared machine is the server's CPU time per request: the
user + system time of the uvicorn process (and its workers) over a wrk run, read from
``/proc``, divided by the requests wrk completed. Requests/s and p99 move with whatever
else the machine runs; CPU per request moves much less. Each is the median of
interleaved rounds.

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
from dataclasses import dataclass
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from benchmarks.apps import FACTORIES
from benchmarks.timing import machine
from tests.harness.processes import free_ports, wait_until_answering
from tests.harness.redis_server import start_redis_server

ROOT = Path(__file__).resolve().parent.parent


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and every live descendant (uvicorn's
    workers), from /proc: fields utime and stime, in clock ticks."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


@dataclass(frozen=True)
class Served:
    base: str
    pid: int


@dataclass(frozen=True)
class Run:
    rps: float
    p99_ms: float
    cpu_us: float  # server CPU time per request


@contextmanager
def serve(
    variant: str, port: int, secret: str, *, store: str = "memory://", workers: int = 1, tree: Path = ROOT
) -> Iterator[Served]:
    """uvicorn serving ``variant`` of ``tree``'s benchmarks.apps (``python -m`` puts the
    working directory first on the path: another checkout's package is the one served)."""
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
    process = subprocess.Popen(command, cwd=tree, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base + "/", process)
        yield Served(base, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def wrk(served: Served, path: str, seconds: int, cookie: str | None) -> Run:
    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", served.base + path]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    before = cpu_seconds(served.pid)
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    cpu = cpu_seconds(served.pid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses", out):
        raise SystemExit(f"{served.base}{path} answered errors under load:\n{out}")
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_text, out
    p99 = float(p99_text.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99_text.group(2)]
    return Run(rps, p99, cpu / requests * 1e6)


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


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p99_ms for r in runs),
        statistics.median(r.cpu_us for r in runs),
    )


def shared_stores(seconds: int, rounds: int, secret: str) -> None:
    """Two uvicorn workers sharing one store, SQLite file or Redis, against the bare app
    under two workers, signed in: the server's CPU per request and what it adds."""
    samples: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        redis_url = stack.enter_context(start_redis_server(Path(tmp) / "redis"))
        variants = {
            "bare": ("bare", "memory://"),
            "SessionSync, SQLite store": ("sessionsync", f"sqlite:///{tmp}/wire.sqlite3"),
            "SessionSync, Redis store": ("sessionsync", f"{redis_url}?prefix=wire"),
        }
        served = {
            label: stack.enter_context(serve(factory, free_ports(1)[0], secret, store=store, workers=2))
            for label, (factory, store) in variants.items()
        }
        cookies = {
            label: httpx.get(s.base + "/login").headers["set-cookie"].split(";", 1)[0]
            for label, s in served.items()
            if label != "bare"
        }
        cookies["bare"] = cookies["SessionSync, SQLite store"]
        for _ in range(rounds):
            for label, s in served.items():
                samples.setdefault(label, []).append(wrk(s, "/", seconds, cookies[label]))
    results = {label: _median(runs) for label, runs in samples.items()}
    bare = results["bare"]
    print(f"\nTwo workers sharing a store (uvicorn --workers 2), signed in; median of {rounds} interleaved rounds\n")
    print("| case | server CPU / request | added vs bare | requests/s | p99 latency |")
    print("|---|---|---|---|---|")
    for label, run in results.items():
        added = "" if label == "bare" else f"+{run.cpu_us - bare.cpu_us:.1f} µs"
        print(f"| {label} | {run.cpu_us:.1f} µs | {added} | {run.rps:.0f} | {run.p99_ms:.2f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument(
        "--shared-stores", action="store_true", help="only the two-worker comparison of the SQLite and Redis stores"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of this repository (e.g. a git worktree of an earlier commit): its middleware "
        "is served too, interleaved with this one, as 'sessionsync before'",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    secret = generate_secret()
    if args.shared_stores:
        shared_stores(args.seconds, args.rounds, secret)
        return
    trees = {v: (v, ROOT) for v in FACTORIES}
    if args.before is not None:
        commit = subprocess.run(
            ["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        trees[f"sessionsync before ({commit or args.before})"] = ("sessionsync", args.before.resolve())
    samples: dict[str, dict[str, list[Run]]] = {v: {} for v in trees}
    streams: dict[str, list[float]] = {v: [] for v in trees}
    with ExitStack() as stack:
        served = {
            label: stack.enter_context(serve(v, free_ports(1)[0], secret, tree=tree))
            for label, (v, tree) in trees.items()
        }
        # Every variant gets a Cookie header of the same kind: the server parses it either
        # way; each SessionSync and Starlette's SessionMiddleware get a valid session of
        # their own to load.
        cookie = {
            label: httpx.get(served[label].base + "/login").headers["set-cookie"].split(";", 1)[0]
            for label in trees
            if label.startswith("sessionsync") or label == "starlette-session"
        }
        for label in trees:
            cookie.setdefault(label, cookie["sessionsync"])
        for _ in range(args.rounds):  # interleaved, so drift in the machine hits all alike
            for variant, s in served.items():
                for key, header in (("anon", None), ("cookie", cookie[variant])):
                    samples[variant].setdefault(key, []).append(wrk(s, "/", args.seconds, header))
                streams[variant].append(stream_time(s.base + "/big"))
    results = {v: {k: _median(runs) for k, runs in row.items()} for v, row in samples.items()}
    bare = results["bare"]
    print(
        f"Over the wire: uvicorn (httptools, uvloop), 1 worker each; wrk -t1 -c32 -d{args.seconds}s on loopback; "
        f"median of {args.rounds} interleaved rounds ({machine()})\n"
    )
    print("| case | server CPU / request | added vs bare | vs Starlette's added | requests/s | vs bare | p99 latency |")
    print("|---|---|---|---|---|---|---|")
    for key, label in (("anon", "no cookie"), ("cookie", "signed in (a valid session cookie)")):
        anchor = results["starlette-session"][key].cpu_us - bare[key].cpu_us
        for variant, row in results.items():
            run = row[key]
            added = run.cpu_us - bare[key].cpu_us
            added_text = "" if variant == "bare" else f"{added:+.1f} µs"
            ratio = "" if variant in ("bare", "starlette-session") or anchor <= 0 else f"{added / anchor:.2f}×"
            print(
                f"| {variant}, {label} | {run.cpu_us:.1f} µs | {added_text} | {ratio} | {run.rps:.0f} | "
                f"{run.rps / bare[key].rps * 100:.1f} % | {run.p99_ms:.2f} ms |"
            )
    print("\n10 MB HTML in 64 KB chunks through uvicorn, downloaded by httpx (median)\n")
    print("| case | time | vs bare |")
    print("|---|---|---|")
    stream = {v: statistics.median(xs) for v, xs in streams.items()}
    for variant, seconds in stream.items():
        print(f"| {variant} | {seconds * 1e3:.1f} ms | {seconds / stream['bare']:.2f}× |")
    shared_stores(args.seconds, args.rounds, secret)


if __name__ == "__main__":
    main()
