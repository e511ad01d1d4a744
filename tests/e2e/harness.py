"""Real servers and a real browser: the demo as a subprocess, Debian's Chromium by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from asgi_sessionsync.testing import free_ports

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NAMES = ("a", "b", "c")


def require_chromium() -> None:
    """Skip without Chromium on a developer machine; fail in CI, where it must be there."""
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    message = "Chromium is not installed: apt-get install chromium (the browser tests drive /usr/bin/chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class Demo:
    def __init__(self, ports: list[int], process: subprocess.Popen[bytes], log: Path) -> None:
        self.ports = dict(zip(NAMES, ports, strict=True))
        self.process = process
        self.log = log

    def url(self, name: str, path: str = "/") -> str:
        return f"http://{name}.localhost:{self.ports[name]}{path}"


@contextmanager
def run_demo(tmp: Path, *, mode: str, only: str = "a,b,c") -> Iterator[Demo]:
    ports = free_ports(3)
    log = tmp / f"demo-{mode}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "demo",
                "--ports",
                ",".join(map(str, ports)),
                "--data-dir",
                str(tmp / f"data-{mode}"),
                "--mode",
                mode,
                "--only",
                only,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    demo = Demo(ports, process, log)
    try:
        deadline = time.monotonic() + 30
        for name in only.split(","):
            while True:
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{demo.ports[name]}/_sessionsync/ping", timeout=1).status_code
                        == 204
                    ):
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
