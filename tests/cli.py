"""Run ``python -m asgi_sessionsync`` as a user would, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str,
    env: dict[str, str],
    env_file: str | None = os.devnull,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m asgi_sessionsync ARGS`` from the work tree (so this tree's code runs),
    with ``env`` and no other SESSIONSYNC_ variable; ``env_file`` given first (default: an
    empty file, so no ``.env`` of the machine's is read; None: none given)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}
    clean.update(env)
    if cwd is not None:  # elsewhere than the work tree: this tree's code all the same
        clean["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), clean.get("PYTHONPATH", "")) if p)
    first = ["--env-file", env_file] if env_file is not None else []
    return subprocess.run(
        [sys.executable, "-m", "asgi_sessionsync", *first, *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or ROOT,
        input=stdin,
    )
