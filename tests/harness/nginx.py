"""A real nginx (``/usr/sbin/nginx``) for tests: one process, its files in a temporary folder.

:func:`serve_nginx` wraps an ``http {}``-level snippet (``server`` blocks, ``map``,
``log_format``: for instance the one in docs/deployment.md) in a configuration whose pid
file, logs and temporary folders are all in ``folder``, runs nginx in the foreground and
stops it when the block ends. :func:`doc_block` reads such a snippet out of a document.
"""

from __future__ import annotations

import re
import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.processes import wait_until_answering
from tests.requirements import skip_or_fail

NGINX = "/usr/sbin/nginx"

_WRAPPER = """daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{snippet}
}}
"""


def require_nginx() -> str:
    """nginx's path; skip without it on a developer machine, fail in CI."""
    found = NGINX if Path(NGINX).exists() else shutil.which("nginx")
    if found is None:
        skip_or_fail("nginx is not installed: apt-get install nginx-light (the proxy tests run /usr/sbin/nginx)")
    return found


def doc_block(document: Path, marker: str) -> str:
    """The first fenced block after the line holding ``marker`` in ``document``."""
    text = document.read_text(encoding="utf-8")
    at = text.index(marker)
    found = re.compile(r"```[a-z]*\n(.*?)```", re.S).search(text, at)
    assert found is not None, f"no fenced block after {marker!r} in {document}"
    return found.group(1)


@contextmanager
def serve_nginx(
    snippet: str, folder: Path, ready_url: str, *, verify: ssl.SSLContext | bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx serving ``snippet`` (inside ``http {}``) until the block ends, once
    ``ready_url`` answers."""
    binary = require_nginx()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(_WRAPPER.format(folder=folder, snippet=snippet), encoding="utf-8")
    test = subprocess.run(
        [binary, "-t", "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert test.returncode == 0, f"nginx -t refused the configuration:\n{test.stderr}\n{config.read_text()}"
    with (folder / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answering(ready_url, process, timeout=15, verify=verify)
        yield process
    finally:
        process.send_signal(signal.SIGQUIT)  # a graceful stop
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
