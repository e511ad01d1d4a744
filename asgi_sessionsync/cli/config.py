"""``config check``: validate everything that can be checked without a peer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from asgi_sessionsync.cli.output import print_json, print_table
from asgi_sessionsync.exceptions import ConfigError, config_problems
from asgi_sessionsync.network_rules import ACTIONS, NetworkRules
from asgi_sessionsync.settings import Settings, read_env_file, unknown_variables
from asgi_sessionsync.settings.checks import same_origin_warning
from asgi_sessionsync.stores import check_store_url
from asgi_sessionsync.stores.sqlite import sqlite_path
from asgi_sessionsync.trust import PRIVILEGED_COLUMNS, peer_matrix
from asgi_sessionsync.wprus.guarantees import weaker

STORE = "SESSIONSYNC_STORE"


def config_check(env_file: Path | None, output: str, app_ref: str | None = None) -> int:
    env = dict(read_env_file(env_file) if env_file else {})
    env.update(os.environ)
    problems = [
        f"{name} is not a setting" + (f": did you mean {close}?" if close else "")
        for name, close in unknown_variables(env)
    ]
    settings: Settings | None = None
    try:
        settings = Settings.from_env(env, env_file=None)  # every wrong setting at once
        check_store(settings.store)
    except ConfigError as error:
        problems += config_problems(error)
    if settings is not None and settings.identity == "starlette-session":
        problems += app_session_problems(settings, app_ref)
    if problems or settings is None:
        for problem in problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    if settings.require_verified_email == "self" and settings.mail.smtp_url is None:
        # Not an error here: a mailer given in code (SessionSyncMiddleware(mailer=...)) is
        # invisible to this command; without one, start-up stops with a ConfigError.
        print(
            "note: SESSIONSYNC_REQUIRE_VERIFIED_EMAIL=self mails codes, and SESSIONSYNC_SMTP_URL is not set: "
            "the app must give SessionSyncMiddleware(mailer=...), or start-up stops",
            file=sys.stderr,
        )
    relative = _relative_store(settings.store)
    if relative is not None:
        print(
            f"note: {STORE} names a path relative to the working directory: here that is {relative}; a server "
            "started in another directory uses another file (give an absolute path: sqlite:////var/lib/…)",
            file=sys.stderr,
        )
    if "*" in settings.trusted_proxies:
        print(
            "note: SESSIONSYNC_TRUSTED_PROXIES=* believes every client's own X-Forwarded-For, even a client "
            "that connects directly, so address binding and the policy's IP rules hold only if no client can "
            "reach this server except through a proxy; otherwise list the proxies (`unix` for a unix socket's)",
            file=sys.stderr,
        )
    shared = same_origin_warning(settings)
    if shared is not None:
        print(f"WARNING: {shared}", file=sys.stderr)
    rows = settings.describe()
    matrix = peer_matrix(settings)
    wordpress = wordpress_lines(settings)
    if output == "json":
        print_json({"valid": True, "settings": dict(rows), "matrix": matrix, "wordpress": wordpress})
        return 0
    width = max(len(name) for name, _ in rows)
    print("configuration is valid; effective settings:")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    if matrix:
        rules = settings.user_sync.network_rules or NetworkRules()
        print()
        print(f"what this site sends to / accepts from each peer ({rules.source}):")
        columns = ["peer", *ACTIONS, *PRIVILEGED_COLUMNS, "sources", "app-kinds"]
        print_table(columns, [[row[c] for c in columns] for row in matrix])
        print(
            "privileged-accounts: the peer may sign in, change and delete accounts that are privileged here "
            "(SESSIONSYNC_TRUSTED_FOR_PRIVILEGED); privileged-roles: it may also give such a role "
            "(and accept_privileged_roles in the network file); sources: where its back-channel messages "
            "may come from (the client address, after SESSIONSYNC_TRUSTED_PROXIES; any: anywhere); app-kinds: "
            "the app's own message kinds (send_message) and their directions"
        )
    if wordpress:
        print()
        print("WordPress sites (WP Remote Users Sync), what each guarantees less than a peer (docs/security.md):")
        for line in wordpress:
            print(f"  {line}")
    return 0


def wordpress_lines(settings: Settings) -> list[str]:
    """One line per WordPress site of the network file: its weaker guarantees."""
    rules = settings.user_sync.network_rules or NetworkRules()
    return [weaker(site, rules.for_peer(origin), settings.samesite) for origin, site in rules.wprus]


def app_session_problems(settings: Settings, app_ref: str | None) -> list[str]:
    """The starlette-session identity: with ``--app``, the app's own SessionMiddleware
    compared with the settings (each differing variable is an error; no value is shown);
    without it, where an unset secret will come from."""
    from asgi_sessionsync.identity.app_session import (
        DIFFERS,
        app_session_options,
        differing,
        find_app_session,
        load_app,
    )

    if app_ref is None:
        if settings.app_session.app_session_secret is None:
            print(
                "note: SESSIONSYNC_APP_SESSION_SECRET is not set: at start-up the middleware reads the secret (and "
                "the cookie's options) from the app's Starlette SessionMiddleware, and stops if the app has none; "
                "check it now with: config check --app MODULE:APP",
                file=sys.stderr,
            )
        return []
    try:
        app = load_app(app_ref)
        found = find_app_session(app)
        wrong = [DIFFERS % name + f" ({app_ref})" for name in differing(settings, found)]
        if not wrong:
            options = app_session_options(settings, app)
            print(f"note: {app_ref}: the app's cookie {options.session_cookie!r}: {options.sources}", file=sys.stderr)
        return wrong
    except ConfigError as error:
        return config_problems(error)


def check_store(location: str) -> None:
    """Raise :class:`ConfigError` unless the store can be opened: the backend exists, and
    a SQLite file can be created (or written) by this user. Creates nothing."""
    check_store_url(location)
    if location.startswith("sqlite:///"):
        path = sqlite_path(location)
        if path != ":memory:":
            _check_creatable(Path(os.path.abspath(path)))


def _relative_store(location: str) -> Path | None:
    """The file a relative ``sqlite:///`` store names from here (None: not one)."""
    if not location.startswith("sqlite:///"):
        return None
    path = sqlite_path(location)
    return None if path == ":memory:" or os.path.isabs(path) else Path(os.path.abspath(path))


def _check_creatable(path: Path) -> None:
    example = f"{STORE}=sqlite:///var/lib/myapp/sessionsync.sqlite3"
    if path.exists():
        if not path.is_file():
            raise ConfigError(STORE, f"{path} exists and is not a file", example)
        if not os.access(path, os.R_OK | os.W_OK):
            raise ConfigError(STORE, f"{path} is not readable and writable by this user", example)
        return
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(STORE, f"{path} cannot be created: {parent} is not a directory", example)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(STORE, f"{path} cannot be created: {parent} is not writable by this user", example)
