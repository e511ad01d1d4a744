"""Run ``python -m asgi_sessionsync`` as a user would, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "asgi_sessionsync", "--env-file", "/nonexistent", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
