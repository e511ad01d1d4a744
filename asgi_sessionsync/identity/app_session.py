"""The options of the app's own Starlette ``SessionMiddleware``, read from the app itself.

The starlette-session identity must read and write the app's cookie exactly as the app
does: the same ``secret_key``, cookie name, ``max_age``, ``path``, ``same_site``,
``https_only`` and ``domain``. Asking the operator to copy each into a variable is how a
typo signs everybody out; so, at start-up, the wrapped app is searched for its
``SessionMiddleware`` (a Starlette or FastAPI app's ``user_middleware``, or a chain of
middleware instances each holding the next as ``.app``). A ``SESSIONSYNC_APP_SESSION_*``
variable (or the option in code) still wins; one that differs from the app's is said at
start-up (its name, never a value). The log says which source each option came from.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from asgi_sessionsync.cookies import CookiePolicy
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.identity.starlette_session import StarletteSessionIdentity
from asgi_sessionsync.logs import package_log

if TYPE_CHECKING:
    from asgi_sessionsync.settings import Settings

logger = package_log("asgi_sessionsync")

MAX_DEPTH = 32  # middleware wrapped in middleware: far more than any real stack
DEFAULTS: dict[str, Any] = {
    "session_cookie": "session",
    "max_age": 14 * 24 * 3600,
    "path": "/",
    "same_site": "lax",
    "https_only": False,
    "domain": None,
}
# Option of SessionMiddleware -> the setting that gives it.
VARIABLES = {
    "secret_key": "APP_SESSION_SECRET",
    "session_cookie": "APP_SESSION_COOKIE",
    "max_age": "APP_SESSION_MAX_AGE",
    "path": "APP_SESSION_PATH",
    "same_site": "APP_SESSION_SAMESITE",
    "https_only": "APP_SESSION_HTTPS_ONLY",
    "domain": "APP_SESSION_DOMAIN",
}


@dataclass(frozen=True)
class AppSessionOptions:
    """What the starlette-session identity reads and writes the app's cookie with."""

    secret_key: str
    session_cookie: str = "session"
    max_age: int | None = 14 * 24 * 3600
    path: str = "/"
    same_site: str = "lax"
    https_only: bool = False
    domain: str | None = None
    sources: str = field(default="", compare=False)  # where each option came from, for the log

    def __repr__(self) -> str:  # never the secret
        hidden = ("secret_key", "sources")
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name not in hidden)
        return f"AppSessionOptions(secret_key=***, {shown})"


def _session_middleware_class() -> type | None:
    try:
        from starlette.middleware.sessions import SessionMiddleware
    except ImportError:  # pragma: no cover - itsdangerous missing: nothing to find
        return None
    return SessionMiddleware


def _from_declaration(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The options of ``Middleware(SessionMiddleware, ...)`` as declared."""
    names = ("secret_key", "session_cookie", "max_age", "path", "same_site", "https_only", "domain")
    found = {**DEFAULTS, **dict(zip(names, args, strict=False))}
    found.update({k: v for k, v in kwargs.items() if k in names})
    return found


def _from_instance(middleware: Any) -> dict[str, Any]:
    """The options of a built ``SessionMiddleware`` (its attributes)."""
    signer = getattr(middleware, "signer", None)
    keys = getattr(signer, "secret_keys", None) or []
    flags = [part.strip() for part in str(getattr(middleware, "security_flags", "")).split(";")]
    found: dict[str, Any] = {
        "session_cookie": getattr(middleware, "session_cookie", "session"),
        "max_age": getattr(middleware, "max_age", DEFAULTS["max_age"]),
        "path": getattr(middleware, "path", "/"),
        "https_only": "secure" in flags,
        "domain": None,
    }
    if keys:
        key = keys[-1]  # itsdangerous signs with the last key
        found["secret_key"] = key.decode("utf-8") if isinstance(key, bytes) else str(key)
    for flag in flags:
        if flag.startswith("samesite="):
            found["same_site"] = flag.removeprefix("samesite=")
        elif flag.startswith("domain="):
            found["domain"] = flag.removeprefix("domain=")
    return found


def find_app_session(app: object) -> dict[str, Any] | None:
    """The options of the first Starlette ``SessionMiddleware`` in ``app`` (declared in a
    Starlette/FastAPI app's ``user_middleware``, or built in a chain of middleware), or
    None when there is none to be seen."""
    session_class = _session_middleware_class()
    if session_class is None:
        return None
    current: object | None = app
    seen: set[int] = set()
    for _ in range(MAX_DEPTH):
        if current is None or id(current) in seen:
            return None
        seen.add(id(current))
        if isinstance(current, session_class):
            return _from_instance(current)
        for declared in getattr(current, "user_middleware", None) or ():
            cls = getattr(declared, "cls", None)
            if isinstance(cls, type) and issubclass(cls, session_class):
                return _from_declaration(cls, tuple(getattr(declared, "args", ())), dict(declared.kwargs))
        current = getattr(current, "app", None)
    return None


def _setting(settings: Settings, option: str) -> Any:
    value = getattr(settings.app_session, "app_session_" + VARIABLES[option].removeprefix("APP_SESSION_").lower())
    if option == "secret_key" and value is not None:
        return value.reveal().decode("utf-8")
    return value  # max_age: seconds, 0 for a browser-session cookie


def _same(option: str, mine: Any, theirs: Any) -> bool:
    if option == "secret_key":  # compared without either being kept around in the clear
        digests = (hashlib.sha256(str(value).encode("utf-8")).digest() for value in (mine, theirs))
        return hmac.compare_digest(*digests)
    if option == "same_site":
        return str(mine).lower() == str(theirs).lower()
    if option == "max_age":
        return (int(mine) or None) == (int(theirs) if theirs else None)
    return bool(mine == theirs)


DIFFERS = "%s differs from the app's SessionMiddleware"


def differing(settings: Settings, found: dict[str, Any] | None) -> list[str]:
    """The ``SESSIONSYNC_APP_SESSION_*`` variables set to something else than the app's
    ``SessionMiddleware`` has (``found``); never a value."""
    if found is None:
        return []
    names = []
    for option, variable in VARIABLES.items():
        given = _setting(settings, option)
        if given is not None and option in found and not _same(option, given, found[option]):
            names.append("SESSIONSYNC_" + variable)
    return names


def load_app(reference: str) -> object:
    """The object ``MODULE:ATTR`` names (as uvicorn's ``module:app``), imported with the
    working directory on the path; :class:`ConfigError` naming ``--app`` otherwise."""
    import importlib
    import os
    import sys

    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigError("--app", f"{reference!r} is not MODULE:ATTR", "--app myproject.main:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError("--app", f"cannot import {module_name}: {error}", "--app myproject.main:app") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError("--app", f"{module_name} has no {attribute}", "--app myproject.main:app")
        target = getattr(target, part)
    return target


def app_session_options(settings: Settings, app: object | None) -> AppSessionOptions:
    """The options the starlette-session identity uses: each setting given wins, then
    the app's ``SessionMiddleware``, then Starlette's default. Logs which source each
    came from (once, at start-up), and warns for a setting that differs from the app's."""
    found = find_app_session(app) if app is not None else None
    chosen: dict[str, Any] = {}
    sources: dict[str, list[str]] = {"setting": [], "app": [], "default": []}
    for variable in differing(settings, found):
        logger.warning(
            DIFFERS + ": the setting is used, so the middleware reads and writes the app's cookie as the "
            "app does not (remove the setting to use the app's own)",
            variable,
        )
    for option in VARIABLES:
        given = _setting(settings, option)
        if given is not None:
            chosen[option], source = given, "setting"
        elif found is not None and option in found:
            chosen[option], source = found[option], "app"
        elif option in DEFAULTS:
            chosen[option], source = DEFAULTS[option], "default"
        else:
            raise ConfigError(
                "SESSIONSYNC_APP_SESSION_SECRET",
                "the starlette-session identity needs the secret_key of the app's SessionMiddleware, and the app "
                "given to SessionSyncMiddleware has no Starlette SessionMiddleware to read it from",
            )
        sources[source].append(option)
    if found is None and app is not None:
        sources["default"].append("(no SessionMiddleware found in the app)")
    described = "; ".join(
        f"{', '.join(names)} {where}"
        for names, where in (
            (sources["app"], "read from the app's SessionMiddleware"),
            (sources["setting"], "from SESSIONSYNC_APP_SESSION_* settings"),
            (sources["default"], "Starlette's defaults"),
        )
        if names
    )
    logger.info("starlette-session identity: the app's cookie options: %s", described)
    max_age = chosen["max_age"]
    return AppSessionOptions(
        secret_key=str(chosen["secret_key"]),
        session_cookie=str(chosen["session_cookie"]),
        max_age=int(max_age) if max_age else None,
        path=str(chosen["path"]),
        same_site=str(chosen["same_site"]).lower(),
        https_only=bool(chosen["https_only"]),
        domain=chosen["domain"],
        sources=described,
    )


def app_session_identity(settings: Settings, app: object | None) -> StarletteSessionIdentity:
    """The starlette-session adapter, its cookie options read from the app where the
    settings leave them (:func:`app_session_options`)."""
    options = app_session_options(settings, app)
    if settings.same_origin_peers() and options.path.rstrip("/") != settings.site_path:
        # Sub-folder sites of one origin: two apps' cookies of one name at / are one cookie.
        logger.warning(
            "starlette-session identity: the app's cookie %r has Path=%s on an origin shared with a peer (%s): give "
            "it this site's path (SessionMiddleware(path=%r)) or a name of its own, or the two sites' logins "
            "overwrite each other",
            options.session_cookie,
            options.path,
            settings.same_origin_peers()[0].site_id,
            settings.site_path or "/",
        )
    # The app's cookie is written the way the app's SessionMiddleware writes it, never
    # with the middleware's own policy (frame mode would make it SameSite=None).
    app_policy = CookiePolicy(
        path=options.path,
        domain=options.domain,
        secure=options.https_only,
        samesite=options.same_site,
    )
    return StarletteSessionIdentity(
        options.secret_key,
        session_cookie=options.session_cookie,
        user_key=settings.app_session.app_session_user_key,
        name_key=settings.app_session.app_session_name_key,
        max_age=options.max_age,
        cookie_policy=app_policy,
    )
