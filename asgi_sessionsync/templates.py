"""The middleware's own pages as templates an app can replace.

Each page is a ``string.Template`` file (``$name`` placeholders) in
``asgi_sessionsync/templates/``; a file of the same name in the site's
``SESSIONSYNC_TEMPLATE_DIR`` is used instead. Every value is HTML-escaped when it is put
in, except the ``raw`` fragments, which the middleware builds from escaped parts itself
(the code page's forms, a page's script). A template naming a placeholder that is not
given is a :class:`~asgi_sessionsync.exceptions.ConfigError` (``config check`` reads the
directory's templates)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from html import escape
from pathlib import Path
from string import Template

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.i18n import language, template_dir

PACKAGE_DIR = Path(__file__).with_name("templates")
# Each page and the placeholders it is given (``lang`` too): a template may use any of them.
PLACEHOLDERS = {
    "error.html": ("title", "message", "link", "link_text"),
    "code.html": ("title", "address_label", "email", "message", "forms"),
    "catchup.html": ("title", "go", "refresh", "checking", "continue_text", "script"),
    # A mail, not a page: plain text, nothing escaped (the first line is the subject).
    "new_sign_in.txt": (
        "subject",
        "intro",
        "when_label",
        "when",
        "device_label",
        "device",
        "client_label",
        "client",
        "country_label",
        "country",
        "advice",
        "about",
    ),
}
NAMES = tuple(PLACEHOLDERS)
VARIABLE = "SESSIONSYNC_TEMPLATE_DIR"


@lru_cache(maxsize=64)
def _load(directory: Path | None, name: str) -> Template:
    own = directory is not None and (directory / name).is_file()
    path = directory / name if own and directory is not None else PACKAGE_DIR / name
    try:
        return Template(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            VARIABLE, f"cannot read the template {path}: {error}", f"{VARIABLE}=/srv/site/templates"
        ) from None


def render(name: str, values: Mapping[str, str], raw: Mapping[str, str] | None = None) -> bytes:
    """Page ``name`` with ``values`` (escaped) and ``raw`` (HTML fragments); ``$lang`` is
    the request's language."""
    filled = {key: escape(value) for key, value in values.items()}
    filled["lang"] = language()
    filled.update(raw or {})
    try:
        return _load(template_dir(), name).substitute(filled).encode()
    except (KeyError, ValueError) as error:
        raise ConfigError(VARIABLE, f"the template {name} names an unknown placeholder: {error}", "") from None


def render_text(name: str, values: Mapping[str, str]) -> tuple[str, str]:
    """Mail ``name`` with ``values`` (plain text, not escaped): its subject (the first
    line) and its body."""
    filled = {**values, "lang": language()}
    try:
        text = _load(template_dir(), name).substitute(filled)
    except (KeyError, ValueError) as error:
        raise ConfigError(VARIABLE, f"the template {name} names an unknown placeholder: {error}", "") from None
    subject, _, body = text.partition("\n")
    return " ".join(subject.split()), body.lstrip("\n")


def check(directory: Path) -> list[str]:
    """What is wrong with an app's template directory (for ``config check`` and start-up):
    a directory that is not there, a template that cannot be read, or one naming a
    placeholder its page is not given."""
    if not directory.is_dir():
        return [f"{VARIABLE}: {directory} is not a directory"]
    problems = []
    for name, keys in PLACEHOLDERS.items():
        if not (directory / name).is_file():
            continue
        try:
            _load(directory, name).substitute({key: "" for key in (*keys, "lang")})
        except ConfigError as error:
            problems.append(str(error))
        except (KeyError, ValueError) as error:
            problems.append(f"{VARIABLE}: {directory / name} names an unknown placeholder: {error}")
    return problems


def require(directory: Path) -> None:
    """Raise at start-up what :func:`check` finds, never per request."""
    problems = check(directory)
    if problems:
        raise ConfigError(VARIABLE, "; ".join(problems), f"{VARIABLE}=/srv/site/templates")
