"""The middleware's log lines appear whatever the framework (#22): when nobody configured
logging (no handler on ``asgi_sessionsync`` nor on the root logger), the middleware gives
its loggers one stderr handler at INFO when it is built; a configuration (uvicorn's
``--log-config``, Django's ``LOGGING``) that has handlers is left to itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from tests.cli import ROOT
from tests.harness.env_site import serve_site_from_env
from tests.harness.processes import free_ports


def test_a_plain_uvicorn_shows_the_middlewares_info_lines(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    env = {
        "SESSIONSYNC_SITE_URL": base,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_PEERS": "http://127.0.0.2:9",
        "SESSIONSYNC_STORE": "memory://",
        "KIT_ACCOUNTS": "ann@example.com:pw",
        "KIT_CSRF_CHECK": "false",
    }
    log = tmp_path / "server.log"
    with serve_site_from_env(env, "127.0.0.1", port, log), httpx.Client(base_url=base, timeout=10) as client:
        client.post("/login", data={"email": "ann@example.com", "password": "pw"})
    text = log.read_text()
    lines = [line for line in text.splitlines() if "session started for ann@example.com" in line]
    assert len(lines) == 1, text
    assert lines[0].startswith("INFO") and "asgi_sessionsync" in lines[0] and f"[{base}]" in lines[0]


def run_python(*parts: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the parts (each dedented) as one script in a fresh interpreter."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONSYNC_", "DJANGO_"))}
    clean.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", "".join(textwrap.dedent(part) for part in parts)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


BUILD = """
    from starlette.applications import Starlette
    from asgi_sessionsync import SessionSyncMiddleware
    from asgi_sessionsync.keys import generate_secret
    from asgi_sessionsync.logs import package_log

    SessionSyncMiddleware(
        Starlette(), env_file=None, site_url="https://a.example", secret_keys=[generate_secret()], store="memory://"
    )
    package_log("asgi_sessionsync").info("a line of the middleware")
"""


def test_django_logging_with_a_root_handler_is_used_as_it_is() -> None:
    result = run_python(
        """
        import django
        from django.conf import settings
        settings.configure(LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"mine": {"format": "MINE %(levelname)s %(name)s %(message)s"}},
            "handlers": {"out": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "mine"}},
            "root": {"handlers": ["out"], "level": "INFO"},
        })
        django.setup()
        """,
        BUILD,
    )
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "a line of the middleware" in line]
    assert said == ["MINE INFO asgi_sessionsync a line of the middleware"], result.stderr


def test_django_without_logging_for_us_gets_the_fallback_handler() -> None:
    result = run_python(
        """
        import django
        from django.conf import settings
        settings.configure()  # Django's own LOGGING: handlers for "django" only
        django.setup()
        """,
        BUILD,
    )
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "a line of the middleware" in line]
    assert len(said) == 1 and said[0].startswith("INFO"), result.stderr


def test_a_configuration_made_after_the_middleware_gets_each_line_once() -> None:
    result = run_python(
        BUILD,
        """
    import logging
    logging.basicConfig(level=logging.INFO, format="LATER %(message)s")
    package_log("asgi_sessionsync").info("a second line")
    """,
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "a second line" in line] == ["LATER a second line"]


def test_json_logs_replace_the_fallback_handler() -> None:
    result = run_python(BUILD.replace('store="memory://"', 'store="memory://", log_format="json"'))
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "a line of the middleware" in line]
    assert len(said) == 1 and said[0].startswith("{"), result.stderr
