"""The language of the middleware's own pages: chosen per request by ``Accept-Language``.

Whatever renders one of the middleware's pages notes its request first
(:func:`for_request`: the request's headers and the site's template directory, in a
context variable); a request that renders none pays nothing, and the ``Accept-Language``
header is found and parsed only when a page's words are. :func:`gettext` translates a message into
the chosen language from the gettext catalogues shipped in ``asgi_sessionsync/locale``
(``<lang>/LC_MESSAGES/asgi_sessionsync.mo``); :func:`N_` marks a message kept in a
constant, translated when shown. English (the msgids) is the fallback.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

DOMAIN = "asgi_sessionsync"
LOCALE_DIR = Path(__file__).with_name("locale")
FALLBACK = "en"
LANGUAGES = (FALLBACK, "fr")  # the catalogues shipped (en: the msgids themselves)
MAX_HEADER = 512  # of an Accept-Language header read (a longer one: its beginning)


Headers = Iterable[tuple[bytes, bytes]]
_current: ContextVar[tuple[Headers, Path | None] | None] = ContextVar("asgi_sessionsync_page_request", default=None)


def for_request(scope: Mapping[str, Any], template_dir: str | Path | None) -> None:
    """The pages rendered next in this context are for this request (its
    ``Accept-Language``) and from ``template_dir`` (the site's ``SESSIONSYNC_TEMPLATE_DIR``)."""
    _current.set((scope.get("headers", ()), _directory(template_dir)))


def use(accept_language: bytes | None, template_dir: Path | None) -> None:
    """Render this context's pages for ``accept_language`` from ``template_dir`` (for code
    that renders a page outside a request: tests, a script)."""
    for_request({"headers": [(b"accept-language", accept_language)] if accept_language else []}, template_dir)


def template_dir() -> Path | None:
    noted = _current.get()
    return noted[1] if noted is not None else None


@cache
def _directory(template_dir: str | Path | None) -> Path | None:
    return Path(template_dir) if template_dir else None


def _accept_language() -> bytes | None:
    noted = _current.get()
    if noted is None:
        return None
    return next((value for key, value in noted[0] if key == b"accept-language"), None)


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
    return choose(_accept_language())


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
