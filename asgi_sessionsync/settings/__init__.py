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

from asgi_sessionsync.settings.environment import exit_on_config_error, read_env_file
from asgi_sessionsync.settings.model import Settings, logger
from asgi_sessionsync.settings.options import MiddlewareOptions, SettingsOptions
from asgi_sessionsync.settings.values import PREFIX, Network, Peer, RequireVerified, Secret, SyncMode, origin_of
from asgi_sessionsync.settings.variables import (
    OTHER_VARIABLES,
    documented_variables,
    known_variables,
    unknown_variables,
)

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
    "unknown_variables",
]
