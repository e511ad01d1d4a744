"""Parsers of setting values, each ``(variable, text) -> value`` raising :class:`ConfigError`
naming the variable; and the field metadata that ties a setting to its variable."""

from __future__ import annotations

import dataclasses
import enum
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from asgi_sessionsync.client_ip import TrustedProxies
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.settings.values import PREFIX, Secret, _normalize_url, site_id_of
from asgi_sessionsync.stores.registry import check_store_url

# --- parsers: (variable, text) -> value -------------------------------------------------


def _str(variable: str, text: str) -> str:
    return text.strip()


def _url(variable: str, text: str) -> str:
    return _normalize_url(text, variable)


def _bool(variable: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"{text!r} is not a boolean", f"{variable}=true")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _duration(variable: str, text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(variable, f"{text!r} is not a duration", f"{variable}=30s (or 30, 5m, 2h, 14d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _positive_duration(variable: str, text: str) -> float:
    value = _duration(variable, text)
    if value <= 0:
        raise ConfigError(variable, "must be greater than zero", f"{variable}=30s")
    return value


def _prefix_len(limit: int) -> Callable[[str, str], int]:
    def parse(variable: str, text: str) -> int:
        if not text.strip().isdigit() or not 0 < int(text) <= limit:
            raise ConfigError(variable, f"{text!r} is not a prefix length 1-{limit}", f"{variable}={limit // 2}")
        return int(text)

    return parse


def _choice(enum_type: type[enum.StrEnum]) -> Callable[[str, str], Any]:
    def parse(variable: str, text: str) -> Any:
        try:
            return enum_type(text.strip().lower())
        except ValueError:
            allowed = ", ".join(m.value for m in enum_type)
            first = next(iter(enum_type)).value
            raise ConfigError(variable, f"{text!r} is not one of {allowed}", f"{variable}={first}") from None

    return parse


def _one_of(*allowed: str) -> Callable[[str, str], str]:
    def parse(variable: str, text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ConfigError(variable, f"{text!r} is not one of {', '.join(allowed)}", f"{variable}={allowed[0]}")
        return value

    return parse


def _list(variable: str, text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _site_ids(variable: str, text: str) -> tuple[str, ...]:
    """Peers named by their URL: the origin, and the path of a sub-folder site."""
    return tuple(site_id_of(_normalize_url(item, variable)) for item in _list(variable, text))


def _trusted_proxies(variable: str, text: str) -> tuple[str, ...]:
    entries = _list(variable, text)
    TrustedProxies(entries, variable=variable)  # validates
    return entries


def _path_prefix(variable: str, text: str) -> str:
    value = text.strip()
    if not re.fullmatch(r"/([A-Za-z0-9._~-]+/)+", value):
        raise ConfigError(
            variable, f"{text!r} must start and end with '/' and be a plain path", f"{variable}=/_sessionsync/"
        )
    return value


def _cookie_name(variable: str, text: str) -> str:
    value = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ConfigError(variable, f"{text!r} is not a valid cookie name", f"{variable}=sessionsync")
    return value


def _own_cookie_name(variable: str, text: str) -> str:
    """The middleware's cookie name, without a prefix: ``__Host-`` (or ``__Secure-``) is
    added where the cookies qualify (docs/security.md, "Cookie tossing")."""
    value = _cookie_name(variable, text)
    if value.lower().startswith(("__host-", "__secure-")):
        raise ConfigError(
            variable,
            f"{text!r} starts with a cookie prefix: the middleware adds __Host- (or __Secure-) itself where the "
            "cookies qualify; give the name without it",
            f"{variable}=sessionsync",
        )
    return value


def _cookie_path(variable: str, text: str) -> str:
    value = text.strip()
    if value and not re.fullmatch(r"/|(/[A-Za-z0-9._~%-]+)+/?", value):
        raise ConfigError(variable, f"{text!r} is not a plain path starting with '/'", f"{variable}=/shop")
    return value


def _optional_str(variable: str, text: str) -> str | None:
    return text.strip() or None


def _app_secret(variable: str, text: str) -> Secret | None:
    # The app's own SessionMiddleware secret, used as the app uses it: any string.
    return Secret(text.encode("utf-8")) if text else None


def _store(variable: str, text: str) -> str:
    value = text.strip()
    check_store_url(value, variable=variable)  # the same check as start-up's open_stores
    return value


def _page_file(variable: str, text: str) -> str | None:
    """An HTML file this site serves as its own page; read once here to check it."""
    from asgi_sessionsync.pages import read_page_file

    if not text.strip():
        return None
    read_page_file(text.strip(), variable)
    return text.strip()


def _ca_file(variable: str, text: str) -> str | None:
    """A PEM file of CA certificates trusted for peer requests; loaded once here to check it
    (the peers' TLS context loads it again at start-up, in a worker thread)."""
    path = text.strip()
    if not path:
        return None
    example = f"{variable}=/etc/ssl/private-ca.pem"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except OSError as error:
        if isinstance(error, ssl.SSLError):
            raise ConfigError(
                variable, f"{path} holds no CA certificate in PEM form ({error.reason or error})", example
            ) from None
        raise ConfigError(variable, f"cannot read {path}: {error.strerror or error}", example) from None
    return path


def _positive_int(variable: str, text: str) -> int:
    value = text.strip().replace("_", "")
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(variable, f"{text!r} is not a whole number above zero", f"{variable}=200000")
    return int(value)


def _field(env: str, parse: Callable[[str, str], Any], default: Any, doc: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": PREFIX + env, "parse": parse, "doc": doc, "secret": secret})


def section(kind: type[Any], doc: str) -> Any:
    """A field of :class:`~asgi_sessionsync.settings.Settings` holding a feature's own
    section (a frozen dataclass of ``_field`` fields, declared beside the feature)."""
    return field(default_factory=kind, metadata={"section": kind, "doc": doc})


def setting_fields(kind: type[Any]) -> list[dataclasses.Field[Any]]:
    """Every field of ``kind`` that reads a variable, its sections' included."""
    found: list[dataclasses.Field[Any]] = []
    for f in dataclasses.fields(kind):
        if "section" in f.metadata:
            found.extend(setting_fields(f.metadata["section"]))
        elif "env" in f.metadata:
            found.append(f)
    return found


def field_values(
    fields: tuple[dataclasses.Field[Any], ...],
    env: Mapping[str, str],
    overrides: dict[str, Any],
    errors: list[ConfigError] | None = None,
) -> dict[str, Any]:
    """The value of each field (but ``networks``) given in ``overrides`` (text parsed; taken
    out of ``overrides``) or else in ``env``; a field not given is left out (its default).
    ``errors``: a value that does not parse is added there (and left out) instead of
    raised, so that every wrong setting is reported at once."""
    values: dict[str, Any] = {}
    for f in fields:
        if f.name == "networks":
            continue
        if "section" in f.metadata:  # a feature's section: its own fields, from the same sources
            kind = f.metadata["section"]
            values[f.name] = kind(**field_values(dataclasses.fields(kind), env, overrides, errors))
            continue
        if "env" not in f.metadata:  # code only
            if f.name in overrides:
                values[f.name] = overrides.pop(f.name)
            continue
        variable = f.metadata["env"]
        try:
            if f.name in overrides:
                value = overrides.pop(f.name)
                if isinstance(value, str):
                    value = f.metadata["parse"](variable, value)
                values[f.name] = tuple(value) if isinstance(value, list) else value
            elif variable in env:
                values[f.name] = f.metadata["parse"](variable, env[variable])
        except ConfigError as error:
            if errors is None:
                raise
            errors.append(error)
    return values
