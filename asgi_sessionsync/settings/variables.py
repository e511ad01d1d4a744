"""Which ``SESSIONSYNC_*`` variables mean something: the settings' own (documented in
docs/configuration.md), the networks', the demo's; and which of an environment's do not
(likely misspellings, with the name they are closest to)."""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

from asgi_sessionsync.settings.networks import _keys_var, _peers_var
from asgi_sessionsync.settings.parsers import _list
from asgi_sessionsync.settings.values import PREFIX


def documented_variables_of(fields: Iterable[dataclasses.Field[Any]]) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting of ``fields`` (the fields of
    ``Settings``), for the docs table."""
    rows: list[tuple[str, str, str]] = []
    for f in fields:
        if "env" not in f.metadata:
            continue
        default = f.default
        shown = default.value if isinstance(default, enum.Enum) else default
        rows.append((f.metadata["env"], "" if shown in (None, "", ()) else str(shown), f.metadata["doc"]))
    return rows


# Variables read by the parts around the middleware (the demo, the tests), not by
# :class:`Settings`: known, so never "not a setting" (the WordPress ones are the live
# tests': tests/e2e/test_browser_wordpress.py, tests/test_wprus_transcripts.py).
OTHER_VARIABLES = frozenset(
    {
        PREFIX + "DEMO_LOG",
        PREFIX + "WPRUS_PLUGIN",
        PREFIX + "WPRUS_WORDPRESS_DIR",
        PREFIX + "WPRUS_WORDPRESS_URL",
        PREFIX + "TEST_WPRUS_PLUGIN",
    }
)
_NETWORK_VARIABLE = re.compile(rf"^{PREFIX}NETWORK_([A-Za-z0-9_]+?)_(SECRET_KEYS|PEERS)$")


def known_variables_of(fields: Iterable[dataclasses.Field[Any]], env: Mapping[str, str] | None = None) -> set[str]:
    """Every ``SESSIONSYNC_*`` name that means something, the variables of ``fields`` (the
    fields of ``Settings``) and the others (with ``env``: the variables of the networks it
    names, too)."""
    names = {f.metadata["env"] for f in fields if "env" in f.metadata}
    names |= {PREFIX + "SECRET_KEYS", PREFIX + "PEERS", PREFIX + "NETWORKS"} | OTHER_VARIABLES
    for network in _list(PREFIX + "NETWORKS", (env or {}).get(PREFIX + "NETWORKS", "")):
        names |= {_keys_var(network), _peers_var(network)}
    return names


def unknown_variables_of(
    fields: Iterable[dataclasses.Field[Any]], env: Mapping[str, str]
) -> list[tuple[str, str | None]]:
    """``SESSIONSYNC_*`` names in ``env`` that no setting of ``fields`` reads, each with the
    closest known name (a likely misspelling) or None; sorted by name."""
    known = known_variables_of(fields, env)
    found: list[tuple[str, str | None]] = []
    for name in sorted(n for n in env if n.startswith(PREFIX) and n not in known):
        candidates = sorted(known)
        if _NETWORK_VARIABLE.match(name):
            candidates = [*candidates, PREFIX + "NETWORKS"]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        found.append((name, close[0] if close else None))
    return found
