"""Pure URL and request rules: no I/O, no state, nothing from the rest of the package.

Every URL the middleware sends a browser to passes through one of these functions, so
the open-redirect and header-injection rules live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from starlette.types import Scope

MAX_URL_CHARS = 4096
# Characters that must never reach a Location header or a log line from a URL.
_FORBIDDEN = frozenset(chr(c) for c in range(0x20)) | {"\x7f", "\\"}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased (a site's name is this and, for a
    sub-folder site, its path: ``settings.site_id_of``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def has_forbidden_characters(url: str) -> bool:
    """True for control characters (CR, LF, NUL, …), DEL or a backslash anywhere in ``url``."""
    return any(c in _FORBIDDEN for c in url)


def safe_return(url: object, allowed_origins: str | Iterable[str]) -> str | None:
    """``url`` when it is an absolute http(s) URL of an allowed site; else None.

    Each allowed entry names a site: an origin (any path on it), or an origin and a path
    (``https://example.com/shop``, a sub-folder site: that path and below, not
    ``/shopping`` nor ``/blog``).

    Refuses control characters and backslashes outright (they would split a header or
    be read differently by browsers), and anything longer than :data:`MAX_URL_CHARS`.
    """
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS or has_forbidden_characters(url):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    origin = origin_of(url)
    allowed = (allowed_origins,) if isinstance(allowed_origins, str) else allowed_origins
    if origin in allowed:
        return url
    for site in allowed:
        if len(site) > len(origin) and site.startswith(origin) and site[len(origin)] == "/":
            path = parts.path
            base = site[len(origin) :]
            if path == base or path.startswith(base + "/"):
                return url
    return None


def local_url(origin: str, path_and_query: str) -> str:
    """An absolute URL on ``origin`` for a path (and query) taken from a request."""
    if (
        not path_and_query.startswith("/")
        or path_and_query.startswith("//")
        or has_forbidden_characters(path_and_query)
    ):
        path_and_query = "/"
    return origin + path_and_query


def request_url(origin: str, scope: Scope) -> str:
    """The absolute URL of the request, on this site (root path included)."""
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and not path.startswith(root):
        path = root + path
    query: bytes = scope.get("query_string", b"")
    return local_url(origin, path + ("?" + query.decode("latin-1") if query else ""))


def endpoint_url(base: str, prefix: str, endpoint: str, query: str = "") -> str:
    """The URL of one of the middleware's endpoints on the site at ``base``."""
    return f"{base}{prefix}{endpoint}{'?' + query if query else ''}"


def header(scope: Scope, name: bytes) -> str:
    """The first value of request header ``name`` (lower-case bytes), or ``""``."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def redact(url: str) -> str:
    """``url`` with any user name and password replaced, fit for an error message or a log line."""
    # All of the user info goes: some put a token where the user name belongs.
    try:
        parts = urlsplit(url)
    except ValueError:  # unparsable: show no more than the scheme
        return url.partition("://")[0] + "://…"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
