"""One site configured by the environment, for real servers in tests and benchmarks.

:func:`site_from_env` is a uvicorn factory: a :func:`~asgi_sessionsync.testing_apps.login_app`
wrapped in the middleware, every ``SESSIONSYNC_*`` variable configuring it (plus a few
``KIT_*`` ones for the app); :func:`serve_site_from_env` runs it under uvicorn in a
subprocess and waits until it answers.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asgi_sessionsync import Hooks, MessageRefused, SessionSyncMiddleware, UserNotFound, exit_on_config_error
from asgi_sessionsync.app_messages import send_message
from asgi_sessionsync.hooks import AppMessage
from asgi_sessionsync.testing_apps import login_app
from asgi_sessionsync.users import delete_user, set_password, update_user
from tests.harness.processes import wait_until_answering

ROOT = Path(__file__).resolve().parents[2]  # the repository: where ``tests`` is importable from


def site_from_env() -> ASGIApp:
    """A :func:`login_app` wrapped in the middleware, all from the environment: for real
    servers in tests and benchmarks (``uvicorn --factory
    tests.harness.env_site:site_from_env``, from the repository's root).

    ``KIT_SITE_NAME`` names the site (default ``a``); ``KIT_ACCOUNTS`` lists
    ``email:password`` pairs, comma-separated; ``KIT_CSRF_CHECK=false`` accepts posts
    without the CSRF token; ``KIT_USER_API=true`` adds ``POST /_kit/delete``,
    ``/_kit/rename`` and ``/_kit/password`` (the signed-in user's new password);
    ``KIT_APP_MESSAGES=true`` adds ``POST /_kit/send`` (``send_message`` of the form's
    ``kind``, JSON ``payload`` and ``user``) and ``GET /_kit/received`` (the
    ``app_message`` events this process was told, as JSON); every ``SESSIONSYNC_*``
    variable configures the middleware.
    """
    accounts = dict(pair.split(":", 1) for pair in os.environ.get("KIT_ACCOUNTS", "").split(",") if ":" in pair)
    app = login_app(
        os.environ.get("KIT_SITE_NAME", "a"),
        accounts,
        csrf_check=os.environ.get("KIT_CSRF_CHECK", "true").lower() != "false",
    )
    if os.environ.get("KIT_USER_API", "").lower() == "true":
        app.add_route("/_kit/delete", _delete_user, methods=["POST"])
        app.add_route("/_kit/rename", _rename_user, methods=["POST"])
        app.add_route("/_kit/password", _change_password, methods=["POST"])
    hooks = Hooks()
    if os.environ.get("KIT_APP_MESSAGES", "").lower() == "true":
        received: list[dict[str, Any]] = []

        async def told(event: AppMessage) -> None:
            received.append({"peer": event.peer, "kind": event.kind, "payload": event.payload, "user": event.user})

        async def listed(request: Request) -> Response:
            return JSONResponse(received)

        hooks.on("app_message", told)
        app.add_route("/_kit/send", _send_message, methods=["POST"])
        app.add_route("/_kit/received", listed)
    with exit_on_config_error():  # a bad setting or an unusable store: one line, not a traceback
        wrapped = SessionSyncMiddleware(app, env_file=None, hooks=hooks)
    process = str(os.getpid()).encode()
    lag_prefix = os.environ.get("KIT_LOOP_LAG", "")  # benchmarks: how late this process's loop runs

    async def site(scope: Scope, receive: Receive, send: Send) -> None:
        if lag_prefix:
            from tests.harness.loop_lag import watch

            watch(lag_prefix)

        # Which worker process answered: multi-process tests check that each did.
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"x-kit-process", process)]}
            await send(message)

        await wrapped(scope, receive, tagged if scope["type"] == "http" else send)

    return site


async def _send_message(request: Request) -> Response:
    form = await request.form()
    try:
        peers = await send_message(
            request,
            str(form.get("kind", "")),
            json.loads(str(form.get("payload", "null"))),
            user=str(form["user"]) if form.get("user") else None,
        )
    except MessageRefused as error:
        return PlainTextResponse(str(error), status_code=400)
    return JSONResponse(peers)


async def _delete_user(request: Request) -> Response:
    form = await request.form()
    deleted = await delete_user(request, str(form.get("email", "")))
    return PlainTextResponse("deleted" if deleted else "no such user")


async def _change_password(request: Request) -> Response:
    """The signed-in user's new password, as an account page would set it (``set_password``:
    every other session of the user ends everywhere, this browser is signed in again); a
    303 to ``/account``, so the browser's navigation carries the new sign-in."""
    if not request.user.is_authenticated:
        return PlainTextResponse("not signed in", status_code=403)
    form = await request.form()
    salt = os.urandom(16)
    password = str(form.get("password", "")).encode()
    digest = await anyio.to_thread.run_sync(lambda: hashlib.scrypt(password, salt=salt, n=16384, r=8, p=1))
    encoded = [base64.b64encode(part).decode().rstrip("=") for part in (salt, digest)]
    await set_password(request, request.user.email, "scrypt$16384$8$1$" + "$".join(encoded))
    return RedirectResponse("/account", status_code=303)


async def _rename_user(request: Request) -> Response:
    form = await request.form()
    try:
        await update_user(request, str(form.get("email", "")), name=str(form.get("name", "")))
    except UserNotFound:
        return PlainTextResponse("no such user", status_code=404)
    return PlainTextResponse("renamed")


@contextlib.contextmanager
def serve_site_from_env(
    env: Mapping[str, str],
    host: str,
    port: int,
    log: Path,
    *,
    workers: int = 1,
    log_level: str = "info",
    extra_args: Sequence[str] = (),
    tls: tuple[Path, Path, ssl.SSLContext] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run :func:`site_from_env` under ``uvicorn`` (``workers`` processes) on ``host:port``
    with ``env`` (on top of this process's environment, less its ``SESSIONSYNC_*`` and
    ``KIT_*`` variables), its output in ``log``; yield the server process once it answers
    (fault tests kill it), stop it on exit. The factory is found from the repository's
    root (``--app-dir``), wherever the caller runs. ``tls``: (certificate chain, key, a
    client context that trusts it): uvicorn serves https with them."""
    if tls is not None:
        extra_args = [*extra_args, "--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONSYNC_", "KIT_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", f"{__name__}:site_from_env", "--app-dir", str(ROOT)),
                *("--host", host, "--port", str(port), "--workers", str(workers), "--log-level", log_level),
                *extra_args,
            ],
            env={**clean, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        scheme = "https" if tls is not None else "http"
        verify = tls[2] if tls is not None else True
        wait_until_answering(f"{scheme}://{host}:{port}/_sessionsync/ping", process, timeout=30, verify=verify)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
