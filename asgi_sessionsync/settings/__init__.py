"""Settings: every option from ``SESSIONSYNC_*`` variables, a ``.env`` file, or code.

Code wins over the environment, the environment over the ``.env`` file, the file
over the defaults. Every invalid value stops start-up with a :class:`ConfigError`
naming the variable, the problem and a valid example; secrets never appear in a
repr, an error or a log line.

Modules: :mod:`~.values` (sync modes, verification requirement, secrets, peers, networks), :mod:`~.parsers` (each
variable's parser), :mod:`~.networks` (the networks of the environment),
:mod:`~.environment` (the ``.env`` file, clean exits), :mod:`~.model` (:class:`Settings`
and the variables it reads), :mod:`~.variables` (which variables mean something),
:mod:`~.checks` (whole-settings checks, ``describe``) and
:mod:`~.options` (the keyword options, typed). Every name is importable from
``asgi_sessionsync.settings`` as before.
"""

from collections.abc import Mapping

from asgi_sessionsync.settings.environment import exit_on_config_error, read_env_file
from asgi_sessionsync.settings.model import Settings, logger
from asgi_sessionsync.settings.options import MiddlewareOptions, SettingsOptions
from asgi_sessionsync.settings.parsers import setting_fields
from asgi_sessionsync.settings.values import (
    PREFIX,
    Network,
    Peer,
    RequireVerified,
    Secret,
    SyncMode,
    origin_of,
    site_id_of,
    site_path_of,
)
from asgi_sessionsync.settings.variables import (
    OTHER_VARIABLES,
    documented_variables_of,
    known_variables_of,
    unknown_variables_of,
)


def documented_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for the docs table."""
    return documented_variables_of(setting_fields(Settings))


def known_variables(env: Mapping[str, str] | None = None) -> set[str]:
    """Every ``SESSIONSYNC_*`` name that means something (with ``env``: the variables of
    the networks it names, too)."""
    return known_variables_of(setting_fields(Settings), env)


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``SESSIONSYNC_*`` names in ``env`` that no setting reads, each with the closest
    known name (a likely misspelling) or None; sorted by name."""
    return unknown_variables_of(setting_fields(Settings), env)


__all__ = [
    "OTHER_VARIABLES",
    "PREFIX",
    "MiddlewareOptions",
    "Network",
    "Peer",
    "RequireVerified",
    "Secret",
    "Settings",
    "SettingsOptions",
    "SyncMode",
    "documented_variables",
    "exit_on_config_error",
    "known_variables",
    "logger",
    "origin_of",
    "read_env_file",
    "site_id_of",
    "site_path_of",
    "unknown_variables",
]
