"""A site of this package with WordPress sites (WP Remote Users Sync) in its network file,
served by a real uvicorn process: what the wprus tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asgi_sessionsync.keys import generate_secret
from tests.harness.env_site import serve_site_from_env


def wordpress_table(url: str, encryption_secret: str, signature_secret: str, rest: str = "") -> str:
    """A ``[wprus."<url>"]`` table of the network file: its secrets, then ``rest`` (TOML lines)."""
    return (
        f'[wprus."{url}"]\nencryption_secret = "{encryption_secret}"\nsignature_secret = "{signature_secret}"\n' + rest
    )


@contextmanager
def site_with_wordpress(
    tmp: Path, port: int, network: str, site_url: str | None = None, **env: str
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """Serve on 127.0.0.1:``port`` a site (SQLite store in ``tmp``) whose network file is
    ``network``; ``env``: more variables. Yields its base URL, its log file and its env."""
    base = f"http://127.0.0.1:{port}"
    (tmp / "network.toml").write_text(network)
    served = {
        "SESSIONSYNC_SITE_URL": site_url or base,
        "SESSIONSYNC_SECRET_KEYS": generate_secret(),
        "SESSIONSYNC_STORE": f"sqlite:///{tmp / 'site.sqlite3'}",
        "SESSIONSYNC_NETWORK_FILE": str(tmp / "network.toml"),
        **env,
    }
    log = tmp / "site.log"
    with serve_site_from_env(served, "127.0.0.1", port, log):
        yield base, log, served
