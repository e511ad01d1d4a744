"""Checks of a whole :class:`~asgi_sessionsync.settings.Settings` (options that cannot work
together), and its description for ``config check`` with secrets masked."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import Field
from typing import Any, ClassVar, Protocol

from asgi_sessionsync.cookies import DEFAULT_COOKIE_NAME, CookieNames, CookieSettings, subfolder_cookie_name
from asgi_sessionsync.exceptions import ConfigError, config_error_of
from asgi_sessionsync.keys import GENERATE_HINT
from asgi_sessionsync.mail_settings import MailSettings
from asgi_sessionsync.network_rules import NetworkRules, UserSyncSettings
from asgi_sessionsync.settings.networks import _keys_var, _peers_var
from asgi_sessionsync.settings.values import _PEERS_EXAMPLE, PREFIX, Network, Peer, site_path_of


class CheckedSettings(CookieSettings, Protocol):
    """What these checks read of :class:`~asgi_sessionsync.settings.Settings`, which calls
    them (typed here, so that this module need not import the one that imports it)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def networks(self) -> tuple[Network, ...]: ...
    @property
    def origin(self) -> str: ...
    @property
    def site_id(self) -> str: ...
    @property
    def site_path(self) -> str: ...
    def same_origin_peers(self) -> list[Peer]: ...
    @property
    def identity(self) -> str: ...
    @property
    def mail(self) -> MailSettings: ...
    @property
    def user_sync(self) -> UserSyncSettings: ...
    @property
    def samesite(self) -> str: ...
    @property
    def trusted_for_privileged(self) -> tuple[str, ...]: ...
    def peers(self) -> Iterable[tuple[Network, Peer]]: ...


def validate_settings(settings: CheckedSettings) -> None:
    """Raise :class:`ConfigError` for settings that cannot work together (all of them:
    :class:`~asgi_sessionsync.exceptions.ConfigErrors` when there are several)."""
    problems = settings_problems(settings)
    if problems:
        raise config_error_of(problems)


def settings_problems(settings: CheckedSettings) -> list[ConfigError]:
    """Every combination of settings that cannot work, one error each."""
    problems: list[ConfigError] = []
    for check in (_site_and_networks, _same_origin, _sub_folder_names, _network_file, _mail, _cookies):
        try:
            check(settings)
        except ConfigError as error:
            problems.append(error)
    return problems


def _site_and_networks(settings: CheckedSettings) -> None:
    if not settings.site_url:
        raise ConfigError(PREFIX + "SITE_URL", "is required", f"{PREFIX}SITE_URL=https://a.example.com")
    if not settings.networks:
        raise ConfigError(PREFIX + "SECRET_KEYS", f"no network is configured; {GENERATE_HINT}")
    seen: dict[str, str] = {}
    for network in settings.networks:
        ids: set[str] = set()
        for peer in network.peers:
            if peer.site_id == settings.site_id:
                raise ConfigError(_peers_var(network.name), f"{peer.url} is this site itself", _PEERS_EXAMPLE)
            if peer.site_id in ids:
                raise ConfigError(_peers_var(network.name), f"{peer.url} is named twice", _PEERS_EXAMPLE)
            ids.add(peer.site_id)
        for secret in network.secret_keys:
            if secret.key_id in seen:
                raise ConfigError(
                    _keys_var(network.name),
                    f"networks {seen[secret.key_id]!r} and {network.name!r} share a secret key",
                )
            seen[secret.key_id] = network.name


def _same_origin(settings: CheckedSettings) -> None:
    """Sub-folder sites of one origin: each one's cookies at its own path, and of its own names."""
    peers = settings.same_origin_peers()
    if not peers:
        return
    own_path = settings.site_path or "/"
    if settings.cookie_path.rstrip("/") != settings.site_path:
        raise ConfigError(
            PREFIX + "COOKIE_PATH",
            f"{settings.cookie_path} is not this site's path ({own_path}): the cookies of a site that shares its "
            f"origin with a peer ({peers[0].url}) are scoped to its own path",
            f"{PREFIX}COOKIE_PATH={own_path}",
        )
    for peer in peers:
        path = site_path_of(peer.url)
        theirs = subfolder_cookie_name(path) if path else DEFAULT_COOKIE_NAME
        if theirs == settings.cookie_name:
            raise ConfigError(
                PREFIX + "COOKIE_NAME",
                f"{settings.cookie_name} is also the default cookie name of {peer.url}, a peer on this origin: "
                "give one of the two sites a name of its own",
                f"{PREFIX}COOKIE_NAME={DEFAULT_COOKIE_NAME}_{settings.site_path.strip('/').replace('/', '_')}x",
            )


def same_origin_warning(settings: CheckedSettings) -> str | None:
    """What ``config check`` and start-up say of peers on this site's own origin, if any."""
    peers = settings.same_origin_peers()
    if not peers:
        return None
    trusted = [p.site_id for p in peers if p.site_id in settings.trusted_for_privileged]
    return (
        f"this site shares its origin {settings.origin} with {', '.join(p.site_id for p in peers)}: sub-folder sites "
        "of one origin must trust each other fully. Cookie paths are no boundary within an origin: a page of one "
        "can read the other's pages, and send requests as its signed-in users, by script; a server of one can "
        "serve pages under the other's path if the proxy lets it. Each site's cookies are HttpOnly and scoped to its "
        "own path, of its own names; privileged accounts are signed in from a peer only if it is in "
        f"SESSIONSYNC_TRUSTED_FOR_PRIVILEGED ({', '.join(trusted) or 'none of these is'}). "
        'See docs/security.md, "Sub-folder sites of one origin".'
    )


def _sub_folder_names(settings: CheckedSettings) -> None:
    """An origin where sub-folder peers live names none of them: the trust lists say which."""
    by_origin: dict[str, list[str]] = {}
    for _, peer in settings.peers():
        if peer.site_id != peer.origin:
            by_origin.setdefault(peer.origin, []).append(peer.site_id)
    ids = {peer.site_id for _, peer in settings.peers()}
    for given in settings.trusted_for_privileged:
        if given not in ids and given in by_origin:
            raise ConfigError(
                PREFIX + "TRUSTED_FOR_PRIVILEGED",
                f"{given} names no peer: the peers on that origin are sub-folder sites "
                f"({', '.join(by_origin[given])}), each trusted by its own URL",
                f"{PREFIX}TRUSTED_FOR_PRIVILEGED={by_origin[given][0]}",
            )


def _network_file(settings: CheckedSettings) -> None:
    if settings.user_sync.network_rules is not None:
        # WordPress sites ([wprus."…"]) are peers of the network file's own declaring.
        known = {peer.site_id for _, peer in settings.peers()} | dict(settings.user_sync.network_rules.wprus).keys()
        strangers = sorted(origin for origin, _ in settings.user_sync.network_rules.peers if origin not in known)
        if strangers:
            raise ConfigError(
                PREFIX + "NETWORK_FILE",
                f"{settings.user_sync.network_rules.source}: [peers] names {', '.join(strangers)}, "
                "not a peer of this site (SESSIONSYNC_PEERS; a sub-folder site is named with its path)",
                '[peers."https://b.example.com"]',
            )


def _mail(settings: CheckedSettings) -> None:
    if settings.mail.smtp_url is not None and settings.mail.mail_from is None:
        raise ConfigError(
            PREFIX + "MAIL_FROM",
            "is required with SESSIONSYNC_SMTP_URL (the From address of the codes)",
            f"{PREFIX}MAIL_FROM=Example <no-reply@example.com>",
        )


def _cookies(settings: CheckedSettings) -> None:
    if settings.samesite == "none" and not settings.secure:
        raise ConfigError(
            PREFIX + "COOKIE_SAMESITE",
            "SameSite=None needs Secure cookies: serve the site over https (or *.localhost), or use sync mode bounce",
            f"{PREFIX}SYNC_MODE=bounce",
        )


def describe_settings(settings: CheckedSettings) -> list[tuple[str, str]]:
    """(variable, effective value) pairs with secrets masked, for ``config check``."""
    rows: list[tuple[str, str]] = []
    pairs: list[tuple[Field[Any], Any]] = []
    for f in dataclasses.fields(settings):  # a feature's section: its fields in its place
        value = getattr(settings, f.name)
        if "section" in f.metadata:
            pairs.extend((sf, getattr(value, sf.name)) for sf in dataclasses.fields(value))
        else:
            pairs.append((f, value))
    for f, value in pairs:
        if f.name == "networks":
            for network in value:
                keys = ", ".join(f"key id {s.key_id}" for s in network.secret_keys)
                rows.append((_keys_var(network.name), f"[{len(network.secret_keys)} secret(s): {keys}]"))
                peers = ", ".join(
                    p.url + (f" | {p.backchannel_url}" if p.backchannel_url != p.url else "") for p in network.peers
                )
                rows.append((_peers_var(network.name), peers or "(none)"))
            continue
        if "env" not in f.metadata:
            continue
        if f.metadata.get("secret"):
            shown = "(not set)" if value is None else "********"
        elif isinstance(value, enum.Enum):
            shown = value.value
        elif isinstance(value, tuple):
            shown = ",".join(value) or "(none)"
        elif isinstance(value, NetworkRules):
            shown = value.source
        elif f.name == "cookie_name":
            shown = f"{value} (cookies written: {', '.join(CookieNames.from_settings(settings).all)})"
        else:
            shown = "(not set)" if value is None else str(value)
        rows.append((f.metadata["env"], shown))
    return rows
