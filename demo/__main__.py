"""``python -m demo``: three sites sharing one login, on an embedded SQLite store each.

Site A  http://a.localhost:8001  alice@example.com / wonderland
Site B  http://b.localhost:8002  (no accounts: users arrive from A and C, with their passwords)
Site C  http://c.localhost:8003  bob@example.com / builder  (a plain request.session app)

Every SESSIONSYNC_* variable the demo does not set itself reaches the three sites, e.g.
SESSIONSYNC_POLICY_FILE=sessions.toml python -m demo (a session policy, docs/governance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Generator
from pathlib import Path

import uvicorn

from asgi_sessionsync import exit_on_config_error
from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.logfilter import install_redaction
from asgi_sessionsync.validation import write_private_file
from demo.sites import ACCOUNTS, NAMES, PORTS, build_sites

DEFAULT_DATA = Path(__file__).resolve().parent / ".data"


class _Server(uvicorn.Server):
    """One of several servers in one loop: the demo, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def demo_secret(data_dir: Path) -> str:
    """The demo network's secret, kept beside the data so a restart keeps sessions.

    Created 0600 from its first byte (never readable by others, even briefly); a file
    left readable by an older demo is made private.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "network-secret"
    with contextlib.suppress(FileExistsError):
        write_private_file(path, (generate_secret() + "\n").encode("ascii"))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text().strip()


def listen(host: str, ports: dict[str, int], only: tuple[str, ...]) -> dict[str, socket.socket]:
    """Bind every site's port before anything starts, so that a busy port is one line."""
    sockets: dict[str, socket.socket] = {}
    for name in only:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, ports[name]))
        except OSError as error:
            sock.close()
            for other in sockets.values():
                other.close()
            taken = error.errno == errno.EADDRINUSE
            problem = "is in use" if taken else f"cannot be used ({error.strerror})"
            print(
                f"demo: port {ports[name]} (site {name.upper()}) {problem}; pick free ports with --ports, "
                "e.g. --ports 9001,9002,9003",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
        sock.listen(128)
        sock.set_inheritable(True)
        sockets[name] = sock
    return sockets


async def serve(
    ports: dict[str, int],
    data_dir: Path,
    secret: str,
    mode: str,
    host: str,
    only: tuple[str, ...] = NAMES,
    sockets: dict[str, socket.socket] | None = None,
    *,
    csrf: bool = True,
    tls: tuple[Path, Path] | None = None,
    hosts: dict[str, str] | None = None,
) -> None:
    scheme = "https" if tls else "http"
    names = hosts or {n: f"{n}.localhost" for n in NAMES}
    urls = {n: f"{scheme}://{names[n]}:{ports[n]}" for n in NAMES}
    backchannel = {n: f"{scheme}://127.0.0.1:{ports[n]}" for n in NAMES}
    # The pattern for start-up errors (docs/operations.md): a bad SESSIONSYNC_* variable
    # ends the demo on one line, as it would end a server started by uvicorn.
    with exit_on_config_error():
        sites = await build_sites(
            urls, backchannel, secret=secret, data_dir=data_dir, sync_mode=mode, environ=os.environ, csrf=csrf
        )
    bound = sockets if sockets is not None else listen(host, ports, only)
    certfile, keyfile = tls or (None, None)
    servers = [
        _Server(
            uvicorn.Config(
                sites[n].app,
                host=host,
                port=ports[n],
                log_level="warning",
                lifespan="on",
                # Peers keep idle keep-alive connections to each other; over TLS uvicorn would
                # wait for their close_notify far longer than a demo should take to stop.
                timeout_graceful_shutdown=2,
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
            )
        )
        for n in only
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)

    print(f"asgi-sessionsync demo: three sites sharing one login ({mode} mode), data in {data_dir}")
    if not csrf:
        print("  --no-csrf: the forms accept posts from any site (to show the middleware's own defence)")
    for n in only:
        accounts = (
            ", ".join(f"{e} / {p}" for e, p in ACCOUNTS[n])
            or "no accounts: users arrive from the other sites, with their passwords"
        )
        print(f"  Site {n.upper()}  {urls[n]}/   ({accounts})")
    print("Open site A, sign in, then open B and C. Press Ctrl+C to stop.", flush=True)
    try:
        await asyncio.gather(*(s.serve(sockets=[bound[n]]) for s, n in zip(servers, only, strict=True)))
    finally:
        for site in sites.values():
            await site.app.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode", choices=["bounce", "frame", "auto"], default=os.environ.get("SESSIONSYNC_SYNC_MODE", "bounce")
    )
    parser.add_argument(
        "--ports", default=",".join(str(PORTS[n]) for n in NAMES), help="three ports for A,B,C (default 8001,8002,8003)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help=f"where the SQLite files live (default {DEFAULT_DATA})"
    )
    parser.add_argument(
        "--only",
        default=",".join(NAMES),
        help="serve only these sites, e.g. a,c (the others stay configured as peers, as if down)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--no-csrf",
        action="store_true",
        default=os.environ.get("DEMO_NO_CSRF", "") == "1",
        help="forms accept posts without a valid CSRF token (insecure; for the browser tests; env DEMO_NO_CSRF=1)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        help="serve https with this certificate (PEM, valid for a.localhost, b.localhost, c.localhost and "
        "127.0.0.1; the sites check each other's, so the issuing CA must be trusted, e.g. SSL_CERT_FILE=ca.pem)",
    )
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument(
        "--hosts",
        default=",".join(f"{n}.localhost" for n in NAMES),
        help="three host names for A,B,C (default a.localhost,b.localhost,c.localhost; others must resolve "
        "to the listening address, e.g. sibling subdomains for the browser tests)",
    )
    args = parser.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    ports = dict(zip(NAMES, (int(p) for p in args.ports.split(",")), strict=True))
    hosts = dict(zip(NAMES, args.hosts.split(","), strict=True))
    logging.basicConfig(level=os.environ.get("SESSIONSYNC_DEMO_LOG", "INFO"), format="%(asctime)s %(name)s %(message)s")
    install_redaction()  # hop, frame and bounce URLs carry envelopes: keep them out of access logs
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per peer ping
    only = tuple(n for n in NAMES if n in args.only.split(","))
    sockets = listen(args.host, ports, only)
    secret = demo_secret(args.data_dir)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        asyncio.run(
            serve(
                ports,
                args.data_dir,
                secret,
                args.mode,
                args.host,
                only,
                sockets,
                csrf=not args.no_csrf,
                tls=tls,
                hosts=hosts,
            )
        )
    except BrokenPipeError:  # `python -m demo | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
