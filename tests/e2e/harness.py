"""Real servers and a real browser: the demo as a subprocess, Debian's Chromium by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness.browsers import CHROMIUM, CHROMIUM_ARGS, Tls
from tests.harness.processes import free_ports
from tests.requirements import skip_or_fail

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "NAMES",
    "OUTPUT",
    "Demo",
    "Session",
    "Tls",
    "profile_dir",
    "require_chromium",
    "run_demo",
]

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "e2e"
NAMES = ("a", "b", "c")


def require_chromium() -> None:
    """Skip without Chromium on a developer machine; fail in CI, where it must be there."""
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    message = "Chromium is not installed: apt-get install chromium (the browser tests drive /usr/bin/chromium)"
    skip_or_fail(message)


@dataclass(frozen=True)
class Session:
    """A row of a demo site's session registry."""

    sid: str
    user: str
    chain: str
    via: str
    ended_at: float | None
    end_reason: str | None


class Demo:
    def __init__(
        self,
        ports: list[int],
        process: subprocess.Popen[bytes],
        log: Path,
        data_dir: Path | None = None,
        tls: Tls | None = None,
        hosts: Sequence[str] | None = None,
    ) -> None:
        self.ports = dict(zip(NAMES, ports, strict=True))
        self.hosts = dict(zip(NAMES, hosts or [f"{n}.localhost" for n in NAMES], strict=True))
        self.process = process
        self.log = log
        self.data_dir = data_dir
        self.tls = tls
        self.scheme = "https" if tls else "http"

    def url(self, name: str, path: str = "/") -> str:
        return f"{self.scheme}://{self.hosts[name]}:{self.ports[name]}{path}"

    def sessions(self, name: str, user: str) -> list[Session]:
        """Site ``name``'s registry of ``user``'s sessions, oldest first (read from its SQLite file)."""
        assert self.data_dir is not None
        with sqlite3.connect(self.data_dir / f"site-{name}.sqlite3", timeout=5) as db:
            rows = db.execute(
                "SELECT sid, user, chain, via, ended_at, end_reason FROM sessions WHERE user = ? ORDER BY created_at",
                (user,),
            ).fetchall()
        return [Session(*row) for row in rows]


@contextmanager
def run_demo(
    tmp: Path,
    *,
    mode: str,
    only: str = "a,b,c",
    ports: Sequence[int] | None = None,
    tls: Tls | None = None,
    settings: Mapping[str, str] | None = None,
    hosts: Sequence[str] | None = None,
) -> Iterator[Demo]:
    """The demo's sites ``only`` in a subprocess. Another ``run_demo`` with the same
    ``tmp``, ``mode`` and ``ports`` serves more sites of the same network (same secret,
    same SQLite files): a peer that was down coming back. ``settings``: ``SESSIONSYNC_*``
    variables for every site (the caller's own environment's are never passed on);
    ``hosts``: the three sites' host names (default ``a.localhost`` …; others must be
    mapped to 127.0.0.1 for the browser, e.g. by Chromium's ``--host-resolver-rules``)."""
    ports = list(ports) if ports is not None else free_ports(3)
    suffix = "" if only == "a,b,c" else "-" + only.replace(",", "")
    log = tmp / f"demo-{mode}{suffix}.log"
    data_dir = tmp / f"data-{mode}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
    env.update(settings or {})
    tls_args: list[str] = []
    if tls is not None:
        tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        env["SSL_CERT_FILE"] = str(tls.ca)  # the sites check each other's certificate on the back-channel
    if hosts is not None:
        tls_args += ["--hosts", ",".join(hosts)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "demo",
                "--ports",
                ",".join(map(str, ports)),
                "--data-dir",
                str(data_dir),
                "--mode",
                mode,
                "--only",
                only,
                *tls_args,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    demo = Demo(ports, process, log, data_dir, tls, hosts)
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=tls.ca) if tls else True
    try:
        deadline = time.monotonic() + 30
        for name in only.split(","):
            while True:
                try:
                    ping = f"{demo.scheme}://127.0.0.1:{demo.ports[name]}/_sessionsync/ping"
                    if httpx.get(ping, timeout=1, verify=verify).status_code == 204:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"demo did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield demo
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        assert "Traceback" not in log.read_text(), log.read_text()


def profile_dir(tmp: Path, *, third_party_cookies: bool) -> Path:
    """A Chromium profile that allows (0) or blocks (1) third-party cookies."""
    path = tmp / f"profile-{'allow' if third_party_cookies else 'block'}-{time.monotonic_ns()}"
    (path / "Default").mkdir(parents=True)
    mode = 0 if third_party_cookies else 1
    (path / "Default" / "Preferences").write_text(json.dumps({"profile": {"cookie_controls_mode": mode}}))
    return path
