"""The language of the middleware's own pages: chosen per request by ``Accept-Language``.

The middleware notes each HTTP request's scope in a context variable (:data:`use_scope`,
one ``ContextVar.set`` per request and nothing else: its ``Accept-Language`` header is
found and parsed only when a page is rendered; the site's template directory, where the
app gives one, is under :data:`TEMPLATE_KEY` in the scope). :func:`gettext` translates a message into
the chosen language from the gettext catalogues shipped in ``asgi_sessionsync/locale``
(``<lang>/LC_MESSAGES/asgi_sessionsync.mo``); :func:`N_` marks a message kept in a
constant, translated when shown. English (the msgids) is the fallback.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import MutableMapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

DOMAIN = "asgi_sessionsync"
LOCALE_DIR = Path(__file__).with_name("locale")
FALLBACK = "en"
LANGUAGES = (FALLBACK, "fr")  # the catalogues shipped (en: the msgids themselves)
MAX_HEADER = 512  # of an Accept-Language header read (a longer one: its beginning)


TEMPLATE_KEY = "sessionsync.template_dir"  # in the scope: the app's template directory

_current: ContextVar[MutableMapping[str, Any] | None] = ContextVar("asgi_sessionsync_page_scope", default=None)
use_scope = _current.set  # the middleware's, once per HTTP request: what its pages read


def use(accept_language: bytes | None, template_dir: Path | None) -> None:
    """Render this context's pages for ``accept_language`` from ``template_dir`` (for code
    that renders a page outside a request: tests, a script)."""
    headers = [(b"accept-language", accept_language)] if accept_language is not None else []
    _current.set({"headers": headers, TEMPLATE_KEY: template_dir})


def template_dir() -> Path | None:
    scope = _current.get()
    return scope.get(TEMPLATE_KEY) if scope is not None else None


def _accept_language(scope: MutableMapping[str, Any] | None) -> bytes | None:
    if scope is None:
        return None
    return next((value for key, value in scope.get("headers", ()) if key == b"accept-language"), None)


def choose(header: bytes | str | None, available: tuple[str, ...] = LANGUAGES) -> str:
    """The best of ``available`` for an ``Accept-Language`` header: q-values honoured
    (``q=0`` excludes), a region matched by its language (``fr-CH`` → ``fr``), ``*`` the
    fallback; English when nothing matches or the header is missing or malformed."""
    if not header:
        return FALLBACK
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    best, best_q = FALLBACK, 0.0
    for item in text[:MAX_HEADER].split(","):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if not tag or not 0.0 < q <= 1.0:
            continue
        language = FALLBACK if tag == "*" else tag.split("-")[0]
        # Earlier items win ties (the header's order is the user's preference).
        if language in available and q > best_q:
            best, best_q = language, q
    return best


def language() -> str:
    """The language of the current request's pages."""
    return choose(_accept_language(_current.get()))


@cache
def catalogue(lang: str) -> _gettext.NullTranslations:
    if lang == FALLBACK:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def gettext(message: str) -> str:
    """``message`` in the current request's language (itself when untranslated)."""
    return catalogue(language()).gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; it is translated where it is shown."""
    return message
